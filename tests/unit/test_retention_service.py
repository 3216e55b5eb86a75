"""service_layer.retention (prune) and service_layer.versions on the in-memory gallery: what is deleted,
retired and published, dry runs, and one gallery's refusal isolated from the rest."""

from datetime import timedelta

import pytest

from aibtrigger.catalog import parse_catalog
from aibtrigger.domain.model import RunState
from aibtrigger.domain.promotion import PROMOTION_TAG
from aibtrigger.domain.provenance import provenance_tags
from aibtrigger.domain.records import RunRecord
from aibtrigger.errors import BackendError, NoGalleryImagesError
from aibtrigger.service_layer.retention import prune
from aibtrigger.service_layer.versions import template_versions
from tests.fakes import FakeGallery
from tests.unit.conftest import DEFINITION

GALLERY = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/"


def entry(name: str, images: list[str], retention: dict | None = None) -> dict:
    distribute = [
        {"type": "SharedImage", "runOutputName": f"out{n}", "galleryImageId": GALLERY + image}
        for n, image in enumerate(images)
    ] or [{"type": "VHD", "runOutputName": "vhd"}]
    policy = {"retention": retention} if retention else {}
    return {"name": name, "definition": {**DEFINITION, "distribute": distribute}, "policy": policy}


@pytest.fixture
def gallery(deps, clock):
    deps.catalog = parse_catalog(
        {
            "templates": [
                entry("web", ["web"], {"keep": 2, "min_age_days": 7}),
                entry("api", ["api", "api-arm"], {"keep": 1}),
                entry("idle", ["idle"]),  # no retention: never looked at
                entry("vhd", [], {"keep": 1}),  # no gallery image to prune
            ]
        }
    )
    return deps.gallery


def publish(gallery, clock, template, image, name, *, days_old, size=100, **fields):
    """A version the service made `days_old` days ago."""
    tags = provenance_tags({"run_id": f"{template}-{name}", "template": template, "source_version": "22.04.1"})
    tags |= fields.pop("tags", {})
    published = (clock() - timedelta(days=days_old)).isoformat()
    return gallery.add(
        f"{GALLERY}{image}/versions/{name}", tags=tags, publishedDate=published, sizeBytes=size, **fields
    )


def web_history(gallery, clock):
    for n, days in enumerate((60, 50, 40, 30)):
        publish(gallery, clock, "web", "web", f"1.0.{n}", days_old=days, size=(n + 1) * 1000)
    publish(gallery, clock, "web", "web", "1.0.4", days_old=1, tags={PROMOTION_TAG: "staged"}, excludeFromLatest=True)
    gallery.add(f"{GALLERY}web/versions/0.1.0", publishedDate=(clock() - timedelta(days=900)).isoformat())  # a person's


def report_of(reports, name):
    return next(r for r in reports if r.template == name)


def test_prune_deletes_what_goes_retires_the_superseded_and_publishes_each(deps, gallery, clock):
    web_history(gallery, clock)
    web = report_of(prune(deps, ["web"]), "web")
    assert [v.version for v in web.deleted] == ["1.0.0", "1.0.1"]
    assert web.freed_bytes == 3000 and web.to_dict()["errors"] == []
    assert {v.version: v.rule for v in web.kept} == {
        "0.1.0": "not_ours",
        "1.0.2": "newest_promoted",
        "1.0.3": "current_latest",
        "1.0.4": "staged",
    }
    remaining = [v["name"] for v in gallery.list_versions(GALLERY + "web")]
    assert remaining == ["0.1.0", "1.0.2", "1.0.3", "1.0.4"]
    # 1.0.2 is superseded by 1.0.3 and 40 days old (past min_age_days): end of life now
    assert gallery.updates == [(f"{GALLERY}web/versions/1.0.2", {"endOfLifeDate": clock().isoformat()})]
    events = [(e["type"], e["subject"].rsplit("/", 1)[-1]) for e in deps.publisher.events]
    assert events == [
        ("aibtrigger.version.retired", "1.0.2"),
        ("aibtrigger.version.deleted", "1.0.0"),
        ("aibtrigger.version.deleted", "1.0.1"),
    ]
    deleted = deps.publisher.events[1]
    assert deleted["id"] == f"{GALLERY}web/versions/1.0.0/deleted"
    assert deleted["data"]["template"] == "web" and deleted["data"]["size_bytes"] == 1000


def test_a_second_pass_finds_nothing_more_to_do(deps, gallery, clock):
    web_history(gallery, clock)
    prune(deps, ["web"])
    events, updates = len(deps.publisher.events), len(gallery.updates)
    web = report_of(prune(deps, ["web"]), "web")
    assert web.deleted == [] and web.retired == []
    assert len(deps.publisher.events) == events and len(gallery.updates) == updates


def test_a_dry_run_reports_the_same_and_changes_nothing(deps, gallery, clock):
    web_history(gallery, clock)
    before = {k: dict(v) for k, v in gallery.versions.items()}
    web = report_of(prune(deps, ["web"], dry_run=True), "web")
    assert [v.version for v in web.deleted] == ["1.0.0", "1.0.1"] and [v.version for v in web.retired] == ["1.0.2"]
    assert web.to_dict()["dry_run"] is True and web.freed_bytes == 3000
    assert gallery.versions == before and gallery.updates == [] and deps.publisher.events == []


def test_only_templates_with_a_retention_policy_are_looked_at(deps, gallery, clock):
    for n in range(3):
        publish(gallery, clock, "idle", "idle", f"1.0.{n}", days_old=100)
    reports = prune(deps)
    assert [r.template for r in reports] == ["web", "api", "vhd"]
    assert len(gallery.list_versions(GALLERY + "idle")) == 3


def test_every_gallery_image_a_template_distributes_to_is_pruned(deps, gallery, clock):
    for image in ("api", "api-arm"):
        for n in range(3):
            publish(gallery, clock, "api", image, f"1.0.{n}", days_old=10 - n)
    api = report_of(prune(deps, ["api"]), "api")
    assert sorted(v.version_id.split("/images/")[1] for v in api.deleted) == [
        "api-arm/versions/1.0.0",
        "api-arm/versions/1.0.1",
        "api/versions/1.0.0",
        "api/versions/1.0.1",
    ]


class RefusingGallery(FakeGallery):
    """Refuses what touches an id containing one of `refused`, as a gallery without the role would (403)."""

    def __init__(self, versions, clock, refused):
        super().__init__(versions, clock)
        self.refused = refused

    def _check(self, resource_id):
        if any(part in resource_id + "/" for part in self.refused):
            raise BackendError(f"AuthorizationFailed: no access to {resource_id}")

    def list_versions(self, gallery_image_id):
        self._check(gallery_image_id)
        return super().list_versions(gallery_image_id)

    def delete_version(self, version_id):
        self._check(version_id)
        super().delete_version(version_id)


def test_one_gallerys_refusal_does_not_stop_the_others(deps, gallery, clock):
    web_history(gallery, clock)
    for image in ("api", "api-arm"):
        for n in range(2):
            publish(gallery, clock, "api", image, f"1.0.{n}", days_old=10 - n)
    deps.gallery = RefusingGallery(gallery.versions, clock, refused=["/images/api/", "web/versions/1.0.0/"])
    reports = prune(deps)
    api, web = report_of(reports, "api"), report_of(reports, "web")
    assert [v.version_id.split("/images/")[1] for v in api.deleted] == ["api-arm/versions/1.0.0"]
    assert api.to_dict()["errors"] == [
        f"{GALLERY}api: versions not listed: AuthorizationFailed: no access to {GALLERY}api"
    ]
    assert [v.version for v in web.deleted] == ["1.0.1"] and web.freed_bytes == 2000
    assert web.to_dict()["errors"] == [
        f"{GALLERY}web/versions/1.0.0: not deleted: AuthorizationFailed: no access to {GALLERY}web/versions/1.0.0"
    ]
    assert f"{GALLERY}web/versions/1.0.0".lower() in gallery.versions
    deleted = [e["subject"] for e in deps.publisher.events if e["type"] == "aibtrigger.version.deleted"]
    assert deleted == [f"{GALLERY}web/versions/1.0.1", f"{GALLERY}api-arm/versions/1.0.0"]


def test_a_template_without_gallery_images_or_a_service_without_a_gallery_is_an_error_in_the_report(deps, gallery):
    vhd = report_of(prune(deps, ["vhd"]), "vhd")
    assert vhd.errors == [
        "template 'vhd' distributes to no gallery image (no SharedImage target): it has no image versions"
    ]
    deps.gallery = None
    assert all("no gallery configured" in r.errors[0] for r in prune(deps))


def test_versions_lists_every_image_of_the_template_with_state_provenance_age_and_size(deps, gallery, clock):
    for image in ("api", "api-arm"):
        publish(gallery, clock, "api", image, "1.0.0", days_old=3, size=42)
    publish(gallery, clock, "api", "api", "1.0.1", days_old=0.5, tags={PROMOTION_TAG: "staged"}, excludeFromLatest=True)
    rows = template_versions(deps, "api")
    assert [(r["gallery_image"].rsplit("/", 1)[1], r["version"], r["state"], r["latest"]) for r in rows] == [
        ("api", "1.0.0", "promoted", True),
        ("api", "1.0.1", "staged", False),
        ("api-arm", "1.0.0", "promoted", True),
    ]
    first = rows[0]
    assert first["age_days"] == 3.0 and first["size_bytes"] == 42 and first["end_of_life"] is None
    assert first["provenance"]["run_id"] == "api-1.0.0" and first["provenance"]["source_version"] == "22.04.1"


def test_versions_of_a_template_without_gallery_images_says_why(deps, gallery):
    with pytest.raises(NoGalleryImagesError, match="no SharedImage target"):
        template_versions(deps, "vhd")


def test_versions_with_a_retention_policy_say_what_prune_would_do_with_each(deps, gallery, clock):
    web_history(gallery, clock)
    rows = {r["version"]: r for r in template_versions(deps, "web")}
    assert rows["1.0.0"]["retention"]["action"] == "delete" and rows["1.0.0"]["retention"]["rule"] == "superseded"
    assert rows["1.0.4"]["retention"] == {"action": "keep", "rule": "staged", "reason": "staged: waiting for promotion"}
    for n in range(2):
        publish(gallery, clock, "idle", "idle", f"1.0.{n}", days_old=100)
    assert all("retention" not in r for r in template_versions(deps, "idle"))  # no policy: nothing to say


class FailingPublisher:
    def publish(self, event):
        raise BackendError("the topic said 403")


def test_a_version_deleted_whose_event_did_not_go_out_is_still_deleted_and_the_report_says_so(deps, gallery, clock):
    web_history(gallery, clock)
    deps.publisher = FailingPublisher()
    web = report_of(prune(deps, ["web"]), "web")
    assert [v.version for v in web.deleted] == ["1.0.0", "1.0.1"]
    assert f"{GALLERY}web/versions/1.0.0: deleted, but its event was not published: the topic said 403" in web.errors
    assert len(web.errors) == 3  # two deletions and one retirement, each said once


def run_naming(deps, clock, template, version_ids, *, days_ago, state=RunState.FAILED):
    """A run of `template` begun `days_ago` days ago whose record names `version_ids` (its outputs)."""
    began = clock() - timedelta(days=days_ago)
    return deps.store.save_run(
        RunRecord(
            run_id=f"{template}.{began:%Y%m%dT%H%M%SZ}.abc123",
            template=template,
            request_ids=("r",),
            reasons=("test",),
            requested_by=("tester",),
            created_at=began,
            state=state,
            ended_at=began + timedelta(hours=1),
            artifact_ids=tuple(version_ids),
        )
    )


def test_untagged_versions_the_templates_own_runs_name_are_its_own_and_go_like_tagged_ones(deps, gallery, clock):
    """The aib backend tags only a successful run's versions: a failed or unrecovered distribution leaves
    its version untagged. The run's record naming it (published after the run began) is the proof."""
    web_history(gallery, clock)
    image = f"{GALLERY}web/versions/"
    when = (clock() - timedelta(days=20)).isoformat()
    gallery.add(image + "1.0.5", provisioningState="Failed", publishedDate=when, excludeFromLatest=True)
    gallery.add(image + "1.0.6", provisioningState="Failed", publishedDate=when, excludeFromLatest=True)
    gallery.add(image + "1.0.7", provisioningState="Failed", publishedDate=when, excludeFromLatest=True)
    run_naming(deps, clock, "web", [image + "1.0.5"], days_ago=21)  # failed while distributing 1.0.5
    run_naming(deps, clock, "web", [image + "1.0.7"], days_ago=19)  # began after 1.0.7 was published
    run_naming(deps, clock, "api", [image + "1.0.6"], days_ago=21)  # another template's run
    web = report_of(prune(deps, ["web"]), "web")
    assert [(v.version, v.rule) for v in web.deleted] == [
        ("1.0.0", "superseded"),
        ("1.0.1", "superseded"),
        ("1.0.5", "failed"),
    ]
    kept = {v.version: v.rule for v in web.kept}
    assert kept["1.0.6"] == "not_ours" and kept["1.0.7"] == "not_ours" and kept["0.1.0"] == "not_ours"
