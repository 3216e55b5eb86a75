"""Security properties of the Bicep, asserted on the parsed tree.

No secret anywhere (no account keys, SAS, connection strings, listKeys()); HTTPS only and TLS 1.2+
on every endpoint; shared keys and local auth disabled; a managed identity on every resource that
authenticates to something; the Function App on Flex Consumption, Python 3.11.
"""

from __future__ import annotations

import re

import pytest
from infra_bicep import INFRA, bicep_files, body, dig, render, walk

# Functions that return secrets. pycep names functions in snake case (listKeys -> list_keys).
SECRET_FUNCTIONS = {
    "list_keys",
    "list_account_sas",
    "list_service_sas",
    "list",
    "list_secrets",
    "list_connection_strings",
    "list_callback_url",
}
SECRET_TEXT = re.compile(
    r"AccountKey=|SharedAccessKey|SharedAccessSignature|sig=|DefaultEndpointsProtocol=|listKeys\(|"
    r"list[A-Z]\w*\(|\.primaryKey|\.secondaryKey|primaryMasterKey|InstrumentationKey=",
)
# The one connection string allowed in app settings: Application Insights. It holds an
# instrumentation key, which grants nothing once the component has DisableLocalAuth (asserted below).
ALLOWED_CONNECTION_STRING_SETTINGS = {"APPLICATIONINSIGHTS_CONNECTION_STRING"}


# Every resource type the infra declares, and whether it must carry a managed identity. A new type
# fails `test_every_resource_type_has_an_identity_decision` until it is classified here.
NEEDS_IDENTITY = {
    "Microsoft.Web/sites": "runs the code, which calls ARM, Storage and Event Grid",
    "Microsoft.EventGrid/systemTopics": "dead-letters undeliverable events into storage without keys",
    "Microsoft.EventGrid/topics": "lets subscribers deliver/dead-letter with identity instead of keys",
}
NO_IDENTITY = {
    "Microsoft.ManagedIdentity/userAssignedIdentities": "is an identity",
    "Microsoft.Storage/storageAccounts": "calls nothing (an identity serves only customer-managed keys)",
    "Microsoft.Storage/storageAccounts/blobServices": "child service, no identity property",
    "Microsoft.Storage/storageAccounts/blobServices/containers": "no identity property",
    "Microsoft.Storage/storageAccounts/queueServices": "child service, no identity property",
    "Microsoft.Storage/storageAccounts/queueServices/queues": "no identity property",
    "Microsoft.Storage/storageAccounts/tableServices": "child service, no identity property",
    "Microsoft.Storage/storageAccounts/tableServices/tables": "no identity property",
    "Microsoft.OperationalInsights/workspaces": "calls nothing (identity serves only CMK/linked services)",
    "Microsoft.Insights/components": "no identity property",
    "Microsoft.Web/serverfarms": "no identity property",
    "Microsoft.Web/sites/basicPublishingCredentialsPolicies": "no identity property",
    "Microsoft.EventGrid/systemTopics/eventSubscriptions": "uses its topic's identity (deadLetterWithResourceIdentity)",
    "Microsoft.Authorization/roleAssignments": "no identity property",
    "Microsoft.Authorization/roleDefinitions": "no identity property",
    "Microsoft.Resources/resourceGroups": "no identity property",
}


def _types(all_resources):
    return {spec["type"] for _, _, spec in all_resources}


def _of_type(all_resources, type_):
    found = [(f, symbol, body(spec)) for f, symbol, spec in all_resources if spec["type"].lower() == type_.lower()]
    assert found, f"no {type_} in infra/"
    return found


def _app_settings(main):
    settings = main.variables().get("appSettings")
    assert isinstance(settings, dict) and settings, "main.bicep must build the app settings in `var appSettings`"
    return settings


# --- no secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_no_key_material_in_source(path):
    code = "\n".join(line.split("//", 1)[0] for line in path.read_text().splitlines())
    found = SECRET_TEXT.findall(code)
    assert not found, f"{path.name}: key material or a list*() call: {found}"
    assert "@secure()" not in code, f"{path.name}: a secure parameter means a secret is passed around"


def test_no_function_returning_secrets_anywhere(bicep):
    for f in bicep.values():
        for node in walk(f.tree):
            if isinstance(node, dict) and "function" in node and isinstance(node["function"], dict):
                assert node["function"]["type"] not in SECRET_FUNCTIONS, f"{f.name}: {render(node)}"


def test_app_settings_hold_no_keys_or_connection_strings(main):
    for name, value in _app_settings(main).items():
        text = render(value)
        assert not SECRET_TEXT.search(text), f"{name} = {text}"
        if name not in ALLOWED_CONNECTION_STRING_SETTINGS:
            lowered = (name + text).lower().replace("_", "")
            assert "connectionstring" not in lowered, f"{name} = {text}: a connection string"
        assert name != "AzureWebJobsStorage", (
            "AzureWebJobsStorage (a connection string) must not be set: identity is used"
        )


def test_app_settings_are_written_once_from_the_settings_object(bicep):
    functionapp = bicep["modules/functionapp.bicep"]
    assert not list(functionapp.resources("Microsoft.Web/sites/config")), "settings go in siteConfig.appSettings only"
    ((_, site),) = functionapp.resources("Microsoft.Web/sites")
    settings = dig(body(site), "properties", "siteConfig", "appSettings")
    loop = settings.get("loop_type") if isinstance(settings, dict) else None
    assert loop and render(loop["detail"]["array_name"]) == "items(appSettings)", (
        "siteConfig.appSettings must be `[for setting in items(appSettings): ...]`, nothing else"
    )
    main_module = next(
        spec for spec in bicep["main.bicep"].modules().values() if spec["detail"]["path"] == "modules/functionapp.bicep"
    )
    assert body(main_module)["params"]["appSettings"] == "appSettings"


def test_application_insights_connection_string_is_harmless(all_resources, main):
    assert "APPLICATIONINSIGHTS_AUTHENTICATION_STRING" in _app_settings(main)
    assert "Authorization=AAD" in _app_settings(main)["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    for f, symbol, config in _of_type(all_resources, "Microsoft.Insights/components"):
        assert dig(config, "properties", "DisableLocalAuth") is True, f"{f.name}:{symbol}"
        assert dig(config, "properties", "WorkspaceResourceId"), f"{f.name}:{symbol} must be workspace-based"
    for f, symbol, config in _of_type(all_resources, "Microsoft.OperationalInsights/workspaces"):
        assert dig(config, "properties", "features", "disableLocalAuth") is True, f"{f.name}:{symbol}"


# --- storage -----------------------------------------------------------------------------------


def test_storage_accounts_are_keyless_https_tls12_private(all_resources):
    for f, symbol, config in _of_type(all_resources, "Microsoft.Storage/storageAccounts"):
        props = config["properties"]
        where = f"{f.name}:{symbol}"
        assert props.get("allowSharedKeyAccess") is False, f"{where}: shared key access must be disabled"
        assert props.get("defaultToOAuthAuthentication") is True, where
        assert props.get("minimumTlsVersion") in {"TLS1_2", "TLS1_3"}, where
        assert props.get("supportsHttpsTrafficOnly") is True, where
        assert props.get("allowBlobPublicAccess") is False, where
        assert props.get("allowCrossTenantReplication") is False, where


def test_blob_containers_are_private(all_resources):
    for f, symbol, config in _of_type(all_resources, "Microsoft.Storage/storageAccounts/blobServices/containers"):
        assert dig(config, "properties", "publicAccess") == "None", f"{f.name}:{symbol}"


# --- web ---------------------------------------------------------------------------------------


def test_function_app_https_only_tls12_no_basic_auth(all_resources):
    """No FTP switch: Flex Consumption has no FTP(S) and rejects ftpsState (test_infra_platform.py)."""
    for f, symbol, config in _of_type(all_resources, "Microsoft.Web/sites"):
        props, site_config = config["properties"], config["properties"]["siteConfig"]
        where = f"{f.name}:{symbol}"
        assert props.get("httpsOnly") is True, where
        assert site_config.get("minTlsVersion") in {"1.2", "1.3"}, where
        assert site_config.get("scmMinTlsVersion") in {"1.2", "1.3"}, where
    policies = {
        body(spec)["name"]: body(spec)["properties"]["allow"]
        for _, _, spec in all_resources
        if spec["type"] == "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
    }
    assert policies == {"scm": False}, f"basic (user/password) publishing to scm must be off: {policies}"


def test_function_app_is_flex_consumption_python_311(all_resources):
    ((_, _, plan),) = _of_type(all_resources, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert dig(plan, "properties", "reserved") is True, "Flex Consumption is Linux"
    ((f, _, site),) = _of_type(all_resources, "Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"
    app_config = site["properties"]["functionAppConfig"]
    assert app_config["runtime"]["name"] == "python"
    assert f.resolve(app_config["runtime"]["version"]) == "3.11"
    storage = app_config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity", (
        "the package is read with the app identity, no key"
    )
    assert "instanceMemoryMB" in app_config["scaleAndConcurrency"]


# --- event grid --------------------------------------------------------------------------------


def test_results_topic_is_cloudevents_entra_only_tls12(all_resources):
    for f, symbol, config in _of_type(all_resources, "Microsoft.EventGrid/topics"):
        props = config["properties"]
        assert props["inputSchema"] == "CloudEventSchemaV1_0", f"{f.name}:{symbol}"
        assert props["disableLocalAuth"] is True, f"{f.name}:{symbol}: keys/SAS must be off"
        assert props["minimumTlsVersionAllowed"] == "1.2", f"{f.name}:{symbol}"


def test_gallery_events_reach_the_function_filtered_retried_dead_lettered(bicep, main):
    gallery = bicep["modules/gallery.bicep"]
    ((_, topic),) = [
        (s, spec) for s, spec in gallery.resources("Microsoft.EventGrid/systemTopics") if not spec["existing"]
    ]
    assert render(body(topic)["properties"]["source"]) == "resource_group().id", (
        "the topic watches the gallery's resource group"
    )
    assert body(topic)["properties"]["topicType"] == "Microsoft.Resources.ResourceGroups"
    assert body(topic)["identity"]["type"] == "UserAssigned"
    ((_, subscription),) = gallery.resources("Microsoft.EventGrid/systemTopics/eventSubscriptions")
    props = body(subscription)["properties"]
    destination = props["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert render(destination["properties"]["resourceId"]).endswith("/functions/${functionName}")
    assert main.variables()["galleryEventFunctionName"] == "on_gallery_event"
    assert props["eventDeliverySchema"] == "EventGridSchema", "func.EventGridEvent expects the Event Grid schema"
    event_filter = props["filter"]
    assert event_filter["includedEventTypes"] == ["Microsoft.Resources.ResourceWriteSuccess"]
    filters = {(f["key"], f["operatorType"]): f["values"] for f in event_filter["advancedFilters"]}
    assert filters[("data.operationName", "StringIn")] == ["Microsoft.Compute/galleries/images/versions/write"]
    assert filters[("subject", "StringContains")] == ["/providers/Microsoft.Compute/galleries/"]
    assert props["retryPolicy"]["maxDeliveryAttempts"] >= 10
    assert props["retryPolicy"]["eventTimeToLiveInMinutes"] >= 1440
    dead_letter = props["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"]["type"] == "UserAssigned", "dead letters are written with an identity, not a key"
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert "deadLetterDestination" not in props, "the keyed dead-letter form must not be used"


# --- identities --------------------------------------------------------------------------------


def test_every_resource_type_has_an_identity_decision(all_resources):
    undecided = _types(all_resources) - set(NEEDS_IDENTITY) - set(NO_IDENTITY)
    assert not undecided, f"classify these types in NEEDS_IDENTITY or NO_IDENTITY (with the reason): {undecided}"


def test_managed_identity_on_every_resource_that_calls_something(all_resources):
    for f, symbol, spec in all_resources:
        if spec["type"] in NEEDS_IDENTITY:
            identity = body(spec).get("identity") or {}
            assert identity.get("type") in {"SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned"}, (
                f"{f.name}:{symbol} ({spec['type']}) needs a managed identity: {NEEDS_IDENTITY[spec['type']]}"
            )


def test_function_app_uses_only_its_user_assigned_identity(all_resources, main):
    ((_, _, site),) = _of_type(all_resources, "Microsoft.Web/sites")
    assert site["identity"]["type"] == "UserAssigned"
    settings = _app_settings(main)
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    client_id = render(settings["AzureWebJobsStorage__clientId"])
    assert render(settings["AZURE_CLIENT_ID"]) == client_id == "appIdentity.properties.clientId"
    assert "ClientId=${appIdentity.properties.clientId}" in settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
