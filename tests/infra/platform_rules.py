"""Platform rules the published resource types do not encode, each with its public source.

The types (tests/infra/azure_types) say what a property *is*; they do not say that a Flex
Consumption site refuses properties every other site accepts. These lists do, and
tests/infra/test_infra_platform.py applies them to the parsed Bicep the same way the types are
applied. Names are compared case-insensitively, as ARM does.
"""

from __future__ import annotations

FLEX_DEPRECATIONS = (
    "https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations "
    "(MicrosoftDocs/azure-docs, articles/azure-functions/functions-app-settings.md, read in the "
    "xtqqczze/MicrosoftDocs-azure-docs mirror at commit 025a55b670db7e1ae73598bfa2bb206c1a60a690)"
)
AZURE_CLI_FLEX_MIGRATION = (
    "Azure/azure-cli src/azure-cli/azure/cli/command_modules/appservice/custom.py at commit "
    "dcf88f4df59d8e2d77f7d1930abd69e778270024: _migrate_app_settings drops the settings below when it "
    "moves an app to Flex Consumption; _migrate_basic_publishing_credentials_policies carries over "
    "only the scm policy"
)
FLEX_SAMPLE = (
    "Azure-Samples/azure-functions-flex-consumption-samples IaC/bicep/core/host/function.bicep: the "
    "official Flex site sets only siteConfig.appSettings and functionAppConfig"
)

# Site properties a Flex Consumption app must not set, as the deprecation table names them, with
# its reason. Newer regional stamps reject them (`BadRequest 51021 ... for Flex Consumption sites
# is invalid`). The table writes them `properties.<name>` for the site-config resource: they are
# matched at `properties.<name>` and `properties.siteConfig.<name>` of a Microsoft.Web/sites body.
FLEX_REJECTED_SITE_PROPERTIES = {
    "alwaysOn": "not valid",
    "containerSize": "renamed instanceMemoryMB (functionAppConfig.scaleAndConcurrency)",
    "ftpsState": "FTPS not supported",
    "reserved": "not valid (the table's `isReserved`; the plan, not the site, carries reserved: true)",
    "isXenon": "not valid",
    "javaVersion": "replaced by functionAppConfig.runtime.version",
    "linuxFxVersion": "replaced by functionAppConfig.runtime",
    "netFrameworkVersion": "replaced by functionAppConfig.runtime.version",
    "powerShellVersion": "replaced by functionAppConfig.runtime.version",
    "functionAppScaleLimit": "renamed maximumInstanceCount (functionAppConfig.scaleAndConcurrency)",
    "preWarmedInstanceCount": "renamed alwaysReadyInstances (functionAppConfig.scaleAndConcurrency)",
    "use32BitWorkerProcess": "32-bit not supported",
    "vnetBackupRestoreEnabled": "not used for networking in Flex Consumption",
    "vnetContentShareEnabled": "not used for networking in Flex Consumption",
    "vnetImagePullEnabled": "not used for networking in Flex Consumption",
    "vnetRouteAllEnabled": "not used for networking in Flex Consumption",
    "windowsFxVersion": "not valid",
}

# App settings a Flex Consumption app must not carry (same table; the azure-cli migration drops
# the same names).
FLEX_REJECTED_APP_SETTINGS = {
    "ENABLE_ORYX_BUILD": "replaced by the remoteBuild deployment parameter",
    "FUNCTIONS_EXTENSION_VERSION": "set by the platform",
    "FUNCTIONS_WORKER_RUNTIME": "replaced by functionAppConfig.runtime.name",
    "FUNCTIONS_WORKER_RUNTIME_VERSION": "replaced by functionAppConfig.runtime.version",
    "FUNCTIONS_MAX_HTTP_CONCURRENCY": "replaced by scaleAndConcurrency.triggers",
    "FUNCTIONS_WORKER_PROCESS_COUNT": "not valid",
    "FUNCTIONS_WORKER_DYNAMIC_CONCURRENCY_ENABLED": "not valid",
    "SCM_DO_BUILD_DURING_DEPLOYMENT": "replaced by the remoteBuild deployment parameter",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "replaced by functionAppConfig.deployment",
    "WEBSITE_CONTENTOVERVNET": "not used for networking in Flex Consumption",
    "WEBSITE_CONTENTSHARE": "replaced by functionAppConfig.deployment",
    "WEBSITE_DNS_SERVER": "DNS comes from the integrated virtual network",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT": "replaced by maximumInstanceCount",
    "WEBSITE_NODE_DEFAULT_VERSION": "replaced by functionAppConfig.runtime.version",
    "WEBSITE_RUN_FROM_PACKAGE": "not used for deployments in Flex Consumption",
    "WEBSITE_SKIP_CONTENTSHARE_VALIDATION": "no content share in Flex Consumption",
    "WEBSITE_VNET_ROUTE_ALL": "not used for networking in Flex Consumption",
}

# Child resources of a Flex Consumption site that have nothing to act on. Flex has no FTP(S)
# endpoint ("FTPS not supported" above); whether ARM accepts a PUT of the ftp policy on a Flex site
# is unpublished, so the Bicep does not send one. The scm policy stays: deployments go through the
# scm endpoint, and the azure-cli Flex migration manages exactly that one.
FLEX_POINTLESS_CHILDREN = {
    ("Microsoft.Web/sites/basicPublishingCredentialsPolicies", "ftp"): "Flex Consumption has no FTP(S)",
}


def is_flex_plan(plan_body: dict) -> bool:
    sku = plan_body.get("sku") or {}
    return sku.get("name") == "FC1" or sku.get("tier") == "FlexConsumption"


# --- deployment rules: what ARM, RBAC and Event Grid do on a real deployment -----------------------

ROLE_REPLICATION = (
    "https://learn.microsoft.com/azure/role-based-access-control/troubleshooting: a new role "
    "definition (and a new principal) can take minutes to replicate; an assignment made meanwhile "
    "fails with RoleDefinitionDoesNotExist. Azure offers no wait inside one deployment, so role "
    "definitions are deployed by an earlier deployment than the assignments that use them."
)
PUT_REPLACES = (
    "https://learn.microsoft.com/azure/azure-resource-manager/templates/deployment-modes#incremental-mode: "
    "redeploying an existing resource reapplies all its properties, they are not added "
    "incrementally. Declaring a shared, pre-existing resource therefore replaces what others set "
    "on it (a system topic's identity and tags): reference it as `existing` instead."
)
ONE_SYSTEM_TOPIC_PER_SOURCE = (
    "https://learn.microsoft.com/azure/event-grid/system-topics: one system topic per Azure "
    "source (here: the gallery's resource group), so it is often shared with other subscribers"
)
SUBJECT_PREFIX = (
    "https://learn.microsoft.com/azure/event-grid/event-filtering#subject-filtering: subjectBeginsWith "
    "is a plain prefix match, so `.../galleries/golden` also matches `.../galleries/golden2`; end "
    "the prefix with `/`"
)
ZONE_REDUNDANT_SKUS = {
    "Standard_ZRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
    "Premium_ZRS",
}
ZONE_REDUNDANCY = (
    "https://learn.microsoft.com/azure/storage/common/storage-redundancy#zone-redundant-storage: "
    "ZRS (and GZRS) exist only in regions with availability zones; elsewhere the account creation "
    "fails. Flex Consumption is offered in regions without zones too."
)
