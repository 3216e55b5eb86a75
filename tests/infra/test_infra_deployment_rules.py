"""What a first real deployment runs into and no type encodes (sources in platform_rules.py):
role replication, ARM's PUT semantics on shared resources, Event Grid naming and filtering, zones,
the deployer's rights at every scope, and a deploy workflow that runs only once configured.
"""

from __future__ import annotations

import re

import yaml
from deployment_graph import (
    ASSIGN_IDENTITY,
    DEPLOY,
    builtin_role_ids,
    covers,
    custom_roles,
    granted_actions,
    placements,
    required_actions,
    role_actions,
    role_assignments,
    roots,
)
from infra_bicep import REPO, body, is_conditional, render
from platform_rules import (
    ONE_SYSTEM_TOPIC_PER_SOURCE,
    PUT_REPLACES,
    ROLE_REPLICATION,
    SUBJECT_PREFIX,
    ZONE_REDUNDANCY,
    ZONE_REDUNDANT_SKUS,
)

WORKFLOW = REPO / ".github" / "workflows" / "deploy.yml"
DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"
# The switch that turns the deploy workflow on (a repository variable).
DEPLOY_SWITCH = "vars.AIBTRIGGER_DEPLOY_ENABLED"


def _main(bicep):
    return bicep["main.bicep"]


# --- role definitions come from an earlier deployment -------------------------------------------


def test_no_deployment_assigns_a_custom_role_it_defines(bicep):
    for root in roots(bicep):
        defines = [
            f"{p.file.name}:{s}"
            for p in placements(bicep, root)
            for s, spec in p.file.resources("Microsoft.Authorization/roleDefinitions")
            if not spec["existing"]
        ]
        custom = [f"{p.file.name}" for p, a in role_assignments(bicep, root) if not builtin_role_ids(p, a)]
        assert not (defines and custom), (
            f"{root.name} defines {defines} and assigns custom roles in {sorted(set(custom))} in the same "
            f"deployment: {ROLE_REPLICATION}"
        )


def test_main_deployment_defines_no_role(bicep):
    defined = [
        p.file.name
        for p in placements(bicep, _main(bicep))
        if list(p.file.resources("Microsoft.Authorization/roleDefinitions"))
    ]
    assert not defined, (
        f"main.bicep's deployment defines roles in {defined}: the deployer would need to create role definitions"
    )


# --- shared resources are referenced, not redeclared -----------------------------------------------


def test_a_shared_system_topic_is_never_redeclared(bicep):
    for f in bicep.values():
        topics = list(f.resources("Microsoft.EventGrid/systemTopics"))
        declared = [(s, spec) for s, spec in topics if not spec["existing"]]
        existing = [s for s, spec in topics if spec["existing"]]
        for symbol, spec in declared:
            assert is_conditional(spec) and existing, (
                f"{f.name}:{symbol} is PUT on every deployment, including onto a topic that already exists "
                f"({ONE_SYSTEM_TOPIC_PER_SOURCE}): create it only when asked, reference it `existing` otherwise. "
                f"{PUT_REPLACES}"
            )


# --- Event Grid -------------------------------------------------------------------------------------


def _event_subscriptions(bicep):
    return [
        (f, s, body(spec))
        for f in bicep.values()
        for s, spec in f.resources("Microsoft.EventGrid/systemTopics/eventSubscriptions")
    ]


def test_event_subscription_name_is_unique_per_instance(bicep):
    main = _main(bicep)
    assert _event_subscriptions(bicep)
    for f, symbol, config in _event_subscriptions(bicep):
        name = config["name"]
        assert name in f.params(), (
            f"{f.name}:{symbol} is named {render(name)!r} whatever the instance: a second aibtrigger watching the "
            "same topic replaces the first one's subscription. Take the name from a parameter set per instance"
        )
        calls = [body(spec) for spec in main.modules().values() if spec["detail"]["path"] == f.name]
        for call in calls:
            passed = render(call["params"][name])
            assert "functionAppName" in passed or "token" in passed, (
                f"main.bicep passes {name} = {passed}: derive it from the instance (functionAppName)"
            )


def test_subject_prefix_ends_at_a_path_boundary(bicep):
    for f, symbol, config in _event_subscriptions(bicep):
        prefix = render(config["properties"]["filter"]["subjectBeginsWith"])
        assert prefix.endswith("/"), f"{f.name}:{symbol}: subjectBeginsWith {prefix}: {SUBJECT_PREFIX}"


# --- regions -----------------------------------------------------------------------------------------


def test_default_storage_replication_exists_in_every_region(main):
    default = main.params()["storageSkuName"].get("default")
    assert default not in ZONE_REDUNDANT_SKUS, f"storageSkuName defaults to {default}: {ZONE_REDUNDANCY}"


# --- the deployer's rights ---------------------------------------------------------------------------


def test_deployer_roles_cover_what_the_main_deployment_does(bicep):
    needed = required_actions(bicep, _main(bicep))
    granted = granted_actions(bicep, "deployerPrincipalId")
    missing = {
        scope: sorted(a for a in actions if not covers(granted.get(scope, set()), a))
        for scope, actions in needed.items()
    }
    missing = {scope: actions for scope, actions in missing.items() if actions}
    assert not missing, (
        "the deployer roles infra/ grants to `deployerPrincipalId` lack, per scope, what "
        f"`az deployment group create -f infra/main.bicep` does: {missing}"
    )


def test_the_required_actions_are_derived_not_empty(bicep):
    needed = required_actions(bicep, _main(bicep))
    assert DEPLOY in needed["service"] and "Microsoft.Web/sites/write" in needed["service"]
    assert ASSIGN_IDENTITY in needed["service"], "the site runs as a user-assigned identity: assign/action"
    assert DEPLOY in needed["gallery"], "the gallery module is a nested deployment in the gallery's group"


def test_the_coverage_check_finds_a_missing_action(bicep):
    """Azure action wildcards match across segments; a dropped action shows up as missing."""
    assert covers({"Microsoft.Web/sites/*"}, "Microsoft.Web/sites/basicPublishingCredentialsPolicies/write")
    assert not covers({"*/read"}, "Microsoft.Web/sites/write")
    granted = granted_actions(bicep, "deployerPrincipalId")["service"]
    assert covers(granted, "Microsoft.Web/serverfarms/write")
    assert not covers(granted - {"Microsoft.Web/serverfarms/write"}, "Microsoft.Web/serverfarms/write")
    assert "Microsoft.Web/serverfarms/write" in required_actions(bicep, _main(bicep))["service"]


def test_deployer_may_assign_only_the_roles_main_assigns(bicep):
    main_roles = {
        guid
        for placed, assignment in role_assignments(bicep, _main(bicep))
        for guid in builtin_role_ids(placed, assignment)
    }
    assert main_roles and all(builtin_role_ids(p, a) for p, a in role_assignments(bicep, _main(bicep))), (
        "main.bicep assigns only built-in roles (custom ones are assigned by grants.bicep)"
    )
    assigners = []
    for root in roots(bicep):
        for placed, assignment in role_assignments(bicep, root):
            props = assignment["properties"]
            if placed.value(props["principalId"]) != "deployerPrincipalId":
                continue
            if not covers(role_actions(bicep, placed, assignment), "Microsoft.Authorization/roleAssignments/write"):
                continue
            condition = props.get("condition")
            if isinstance(condition, dict) and "operator" in condition:  # `empty(c) ? null : c`
                condition = condition["operator"]["operands"].get("false_value")
            condition = placed.value(condition)
            assert isinstance(condition, str) and "GuidEquals" in condition and "ServicePrincipal" in condition, (
                f"{placed.file.name}: the deployer may assign any role (no condition)"
            )
            assigners.append(condition)
    assert assigners, "no assignment lets the deployer create the role assignments main.bicep makes"
    grants = bicep["grants.bicep"]
    assert set(grants.variables()["serviceDataRoles"]) == main_roles, (
        "grants.bicep serviceDataRoles (what the deployer may assign) must be exactly the built-in roles "
        f"main.bicep assigns: {sorted(main_roles)}"
    )


def test_the_deployer_never_needs_subscription_rights(bicep):
    needed = required_actions(bicep, _main(bicep))
    assert "subscription" not in needed, (
        f"main.bicep deploys at subscription scope ({needed.get('subscription')}): the deployer would need "
        "subscription-wide deployment and role-assignment rights"
    )


# --- the workflow ------------------------------------------------------------------------------------


def _workflow():
    document = yaml.safe_load(WORKFLOW.read_text())
    triggers = document.get("on", document.get(True))
    return document, (set(triggers) if isinstance(triggers, (dict, list)) else {triggers})


def test_deploy_workflow_runs_only_when_configured():
    document, triggers = _workflow()
    if triggers == {"workflow_dispatch"}:
        return
    for name, job in document["jobs"].items():
        assert DEPLOY_SWITCH in str(job.get("if", "")), (
            f"job {name} runs on {sorted(triggers)} whether or not the repository is configured: "
            f"gate it with `if: ... {DEPLOY_SWITCH} == 'true'`"
        )


def test_workflow_runs_only_the_deployer_steps():
    text = WORKFLOW.read_text()
    assert "az deployment group create" in text
    assert "az deployment sub create" not in text, "bootstrap and grants need an Owner: not the CI identity"


def test_deployment_doc_walks_both_deployments_with_their_rights(bicep):
    doc = DEPLOYMENT_DOC.read_text()
    for heading in ("## First deployment", "## Code-only redeploy"):
        assert heading in doc, f"docs/deployment.md lacks the section {heading!r}"
    for key, role in custom_roles(bicep).items():
        if "deployer" in key:
            name = re.sub(r"\s*\(.*$", "", str(role["properties"]["roleName"]))
            assert name in doc, f"docs/deployment.md does not name the deployer role {name!r}"
    assert "Website Contributor" in doc, "the code-only redeploy's role"


# --- the service identity exists before anything is granted to it ----------------------------------


def test_main_references_the_identity_bootstrap_creates(bicep):
    main = _main(bicep)
    ((symbol, spec),) = [
        (s, spec)
        for s, spec in main.resources("Microsoft.ManagedIdentity/userAssignedIdentities")
        if body(spec)["name"] == "id-${namePrefix}-${token}"
    ]
    assert spec["existing"], f"main.bicep:{symbol} must be `existing`: bootstrap.bicep creates it before grants.bicep"
    formulas = {(render(body(spec)["name"]), render(main.variables()["token"]))}
    for name in ("modules/service-identity.bicep", "modules/service-identity-ref.bicep"):
        f = bicep[name]
        ((_, identity),) = f.resources("Microsoft.ManagedIdentity/userAssignedIdentities")
        formulas.add((render(body(identity)["name"]), render(f.variables()["token"])))
    assert len(formulas) == 1, f"the three files name the service identity differently: {formulas}"
    uses = {spec["detail"]["path"]: f.name for f in bicep.values() for spec in f.modules().values()}
    assert uses["modules/service-identity.bicep"] == "bootstrap.bicep"
    assert uses["modules/service-identity-ref.bicep"] == "grants.bicep"
