"""The app settings the Bicep writes are exactly the settings the code reads, so they cannot drift.

The rule (decided here, documented in docs/deployment.md):
  * every name in `aibtrigger.config.setting_names()` is either written by main.bicep's
    `appSettings` or listed in NOT_SET_IN_AZURE with the reason (and then it must be optional);
  * every name main.bicep writes is either in `setting_names()` or listed in HOST_SETTINGS: read by
    the Functions host or an Azure SDK, never by aibtrigger's own code.
A setting added to config.py therefore fails this test until the Bicep writes it (or it is
explicitly declared not needed in Azure); a setting dropped from config.py fails it until the Bicep
stops writing it.

Queue, table and container names are checked the same way against aibtrigger/names.py.
"""

from __future__ import annotations

import pytest
from infra_bicep import REPO, render

from aibtrigger import config, names

HOST_SETTINGS = {
    "AzureWebJobsStorage__credential": "Functions host: use a managed identity for host storage",
    "AzureWebJobsStorage__clientId": "Functions host: which (user-assigned) identity to use for host storage",
    "AZURE_CLIENT_ID": "azure-identity's DefaultAzureCredential: the user-assigned identity to use",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "Functions host: where telemetry goes",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Functions host: send telemetry with Entra ID (local auth is off)",
}
NOT_SET_IN_AZURE = {
    "AzureWebJobsStorage": "a connection string with an account key; Azure uses the identity-based "
    "AzureWebJobsStorage__accountName instead (shared keys are disabled)",
    "AIBTRIGGER_EVENTGRID_KEY": "the topic has local auth disabled; the app publishes with its identity",
    "AIBTRIGGER_LOCAL_WORKDIR": "used only by the local build backend; Azure runs backend=aib",
    "AIBTRIGGER_LOCAL_SECONDS_PER_MINUTE": "used only by the local build backend (test time scaling)",
    "AIBTRIGGER_LOCAL_EVENT_WEBHOOK": "used only by the local gallery (dev host); Azure delivers through Event Grid",
    "AIBTRIGGER_LEASE_MARGIN_SECONDS": "its default (3 min) is meant for Azure; tests and benchmarks shrink it",
    "AIBTRIGGER_DISTRIBUTION_PATIENCE_MINUTES": "its default (3 h) is meant for Azure's replication times",
    "AIBTRIGGER_DISTRIBUTION_RETRIES": "its default (2) is meant for Azure; tests change it",
}
# Values main.bicep must write (they select the Azure adapters).
REQUIRED_VALUES = {"AIBTRIGGER_BACKEND": "aib", "AIBTRIGGER_PUBLISHER": "eventgrid"}
# Stand-ins for values only known at deployment time, to validate the rest with the real loader.
PLACEHOLDERS = {
    "AzureWebJobsStorage__accountName": "stplaceholder",
    "AIBTRIGGER_EVENTGRID_ENDPOINT": "https://placeholder.westeurope-1.eventgrid.azure.net/api/events",
}


@pytest.fixture(scope="module")
def written(main) -> dict:
    return main.variables()["appSettings"]


def _optional(name: str) -> bool:
    names = config.setting_names()
    fields = list(config.Settings.model_fields.values())
    assert len(names) == len(fields), "setting_names() must list one name per Settings field"
    return not dict(zip(names, fields, strict=True))[name].is_required()


def test_bicep_writes_every_setting_the_code_reads(written):
    missing = set(config.setting_names()) - set(written) - set(NOT_SET_IN_AZURE)
    assert not missing, (
        f"aibtrigger reads {sorted(missing)} but infra/main.bicep (var appSettings) does not write them: "
        "add them to the Bicep, or to NOT_SET_IN_AZURE here with the reason"
    )


def test_bicep_writes_nothing_the_code_does_not_read(written):
    unknown = set(written) - set(config.setting_names()) - set(HOST_SETTINGS)
    assert not unknown, (
        f"infra/main.bicep writes {sorted(unknown)}, which aibtrigger does not read: remove them, or list "
        "them in HOST_SETTINGS here if the Functions host or an SDK reads them"
    )


def test_exemptions_are_real_optional_code_settings_and_not_written(written):
    names = set(config.setting_names())
    for name, reason in NOT_SET_IN_AZURE.items():
        assert name in names, f"NOT_SET_IN_AZURE lists {name}, which the code no longer reads: drop it"
        assert _optional(name), f"{name} is required by the code, so Azure must set it ({reason})"
        assert name not in written, f"{name} is declared not needed in Azure ({reason}) but the Bicep writes it"
    assert not set(HOST_SETTINGS) & names, "a host setting is also read by the code: it belongs to neither list"


def test_written_values_select_the_azure_adapters(written):
    for name, value in REQUIRED_VALUES.items():
        assert written.get(name) == value, f"{name} must be {value!r} in Azure"


def test_written_values_load_with_the_real_settings_loader(main, written, monkeypatch):
    """Literal values (and parameter defaults) must satisfy aibtrigger's own validation."""
    for name in list(config.setting_names()) + list(HOST_SETTINGS):
        monkeypatch.delenv(name, raising=False)
    for name, value in written.items():
        if name in PLACEHOLDERS:
            value = PLACEHOLDERS[name]
        elif isinstance(value, dict) and "function" in value and value["function"]["type"] == "string":
            value = str(main.resolve(value["function"]["parameters"]["value_to_convert"]))
        elif isinstance(value, str):
            value = str(main.resolve(value))
        else:
            value = "placeholder-for-" + render(value)
        monkeypatch.setenv(name, value)
    settings = config.load_settings()
    assert settings.backend == "aib" and settings.publisher == "eventgrid"


def _constants(suffix: str) -> set[str]:
    return {value for name, value in vars(names).items() if name.endswith(suffix) and isinstance(value, str)}


def test_queues_tables_and_containers_match_the_code(main):
    variables = main.variables()
    queues, tables = set(variables["queueNames"]), set(variables["tableNames"])
    containers = {variables[name] for name in variables if name.endswith("ContainerName")}
    code_queues = _constants("_QUEUE")
    poison = {q + names.POISON_SUFFIX for q in (names.REQUESTS_QUEUE, names.POLLS_QUEUE)}
    assert code_queues | poison <= queues, f"queues missing from main.bicep: {sorted(code_queues | poison - queues)}"
    stale = queues - code_queues - {q + names.POISON_SUFFIX for q in code_queues}
    assert not stale, f"main.bicep creates queues the code does not use: {sorted(stale)}"
    assert tables == _constants("_TABLE"), (
        f"main.bicep tables {sorted(tables)} != names.py {sorted(_constants('_TABLE'))}"
    )
    assert _constants("_CONTAINER") <= containers, (
        f"containers missing from main.bicep: {_constants('_CONTAINER') - containers}"
    )


def test_catalog_path_default_is_relative_to_the_app_root(main):
    default = main.params()["catalogPath"]["default"]
    assert not default.startswith("/") and ".." not in default, "the catalog is deployed with the code, in the app root"


def test_gallery_event_function_exists_in_the_app():
    app = REPO / "function_app.py"
    if not app.is_file():
        pytest.skip("function_app.py does not exist yet: cannot cross-check the Event Grid function name")
    sources = [app, *(REPO / "aibtrigger").rglob("*.py")]
    assert any("on_gallery_event" in path.read_text() for path in sources), (
        "the Event Grid subscription (infra/modules/gallery.bicep) delivers to a function named "
        "on_gallery_event, which no module of the app defines"
    )
