"""`aibtrigger versions TEMPLATE` and `aibtrigger prune [TEMPLATE] [--dry-run]`, on the in-memory gallery."""

import json

import pytest

from aibtrigger import cli
from tests.unit.test_retention_service import GALLERY, gallery, publish, web_history  # noqa: F401 (a fixture)


@pytest.fixture
def run(deps, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_deps", lambda: deps)

    def command(*argv):
        code = cli.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return command


def test_versions_shows_each_version_with_its_state_provenance_age_and_size(run, gallery, clock):
    web_history(gallery, clock)
    code, out, _ = run("versions", "web")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"gallery image {GALLERY}web"
    by_version = {line.split()[1] if line.startswith("*") else line.split()[0]: line for line in lines[2:]}
    assert by_version["1.0.3"].startswith("* 1.0.3") and "promoted" in by_version["1.0.3"]
    assert "web-1.0.3" in by_version["1.0.3"] and "22.04.1" in by_version["1.0.3"]
    assert "30.0d" in by_version["1.0.3"] and "3.9 KiB" in by_version["1.0.3"]
    assert "staged" in by_version["1.0.4"] and "not made by aibtrigger" in by_version["0.1.0"]
    assert by_version["1.0.0"].endswith("[prune: delete, superseded]")  # web has a retention policy
    assert by_version["1.0.3"].endswith("[prune: keep, current_latest]")


def test_versions_json_is_one_object_per_version(run, gallery, clock):
    web_history(gallery, clock)
    code, out, _ = run("versions", "web", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["version"] for r in rows] == ["0.1.0", "1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4"]
    assert [r["state"] for r in rows][-2:] == ["promoted", "staged"] and rows[-2]["latest"] is True
    assert rows[1]["provenance"]["run_id"] == "web-1.0.0" and rows[1]["size_bytes"] == 1000


def test_versions_of_an_unknown_template_or_one_without_gallery_images_says_why(run, gallery):
    code, _, err = run("versions", "wbe")
    assert code == 2 and "'wbe' is not in the catalog" in err and "did you mean web?" in err
    code, _, err = run("versions", "vhd")
    assert code == 2 and "distributes to no gallery image (no SharedImage target)" in err


def test_prune_dry_run_shows_what_would_go_and_the_storage_it_frees_changing_nothing(run, deps, gallery, clock):
    web_history(gallery, clock)
    code, out, _ = run("prune", "web", "--dry-run")
    assert code == 0 and len(gallery.list_versions(GALLERY + "web")) == 6 and deps.publisher.events == []
    lines = out.splitlines()
    assert lines[0] == "web (keep 2, min_age_days 7): 2 would delete, 1 would retire, 2.9 KiB to free"
    assert lines[1].split()[:4] == ["would", "delete", "1.0.0", "1000"]
    assert "superseded: 2 newer promoted versions are kept; 60 days old" in lines[1]
    assert any(line.split()[:4] == ["would", "retire", "1.0.2", "endOfLifeDate"] for line in lines)
    assert any(line.split()[:2] == ["keep", "1.0.4"] and "staged" in line for line in lines)
    assert lines[-1] == "would free: 2.9 KiB"


def test_prune_applies_and_its_json_reports_each_template(run, gallery, clock):
    web_history(gallery, clock)
    code, out, _ = run("prune", "--json")
    report = json.loads(out)
    assert code == 1  # the vhd template has a policy but no gallery image: an error, reported
    assert report["dry_run"] is False and report["freed_bytes"] == 3000
    web = next(t for t in report["templates"] if t["template"] == "web")
    assert [v["version"] for v in web["deleted"]] == ["1.0.0", "1.0.1"]
    assert [v["version"] for v in web["retired"]] == ["1.0.2"] and web["errors"] == []
    assert [v["name"] for v in gallery.list_versions(GALLERY + "web")] == ["0.1.0", "1.0.2", "1.0.3", "1.0.4"]
    vhd = next(t for t in report["templates"] if t["template"] == "vhd")
    assert "no SharedImage target" in vhd["errors"][0]


def test_prune_of_a_template_without_retention_or_unknown_says_so(run, gallery):
    code, _, err = run("prune", "idle")
    assert code == 2 and "'idle' has no retention policy (policy.retention)" in err
    code, _, err = run("prune", "nope", "--dry-run")
    assert code == 2 and "'nope' is not in the catalog" in err


def test_prune_says_which_versions_it_skipped_because_they_changed_since_the_listing(run, gallery, clock):
    web_history(gallery, clock)
    listed, real = [], gallery.list_versions

    def list_then_exclude_by_hand(image):
        found = real(image)
        if not listed:  # prune has its plan; now someone excludes 1.0.0 from latest
            listed.append(image)
            gallery.versions[f"{GALLERY}web/versions/1.0.0".lower()]["excludeFromLatest"] = True
        return found

    gallery.list_versions = list_then_exclude_by_hand
    code, out, _ = run("prune", "web")
    assert code == 0
    assert "web (keep 2, min_age_days 7): 1 deleted, 1 retired" in out
    [skipped] = [line.split(None, 2) for line in out.splitlines() if line.startswith("  skipped")]
    assert skipped == [
        "skipped",
        "1.0.0",
        "changed since listed (now kept, excluded_by_hand: excluded from latest outside the service: left alone): "
        "left for the next prune",
    ]
    assert f"{GALLERY}web/versions/1.0.0".lower() in gallery.versions
