"""domain.retention: each keep rule on the versions it exists for, the retirement date, and a property
test of what prune must never delete."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from aibtrigger.domain.promotion import PROMOTION_TAG, version_state
from aibtrigger.domain.provenance import provenance_tags
from aibtrigger.domain.retention import DELETE, KEEP, plan_retention

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
IMAGE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/web"


def version(
    name: str,
    *,
    days_old: float = 30,
    template: str | None = "web",
    promotion: str | None = None,
    excluded: bool = False,
    provisioning: str = "Succeeded",
    end_of_life: str | None = None,
    size: int | None = 1_000,
) -> dict:
    tags = provenance_tags({"run_id": f"{template}-run-{name}", "template": template}) if template else {}
    if promotion:
        tags[PROMOTION_TAG] = promotion
    return {
        "id": f"{IMAGE}/versions/{name}",
        "name": name,
        "provisioningState": provisioning,
        "excludeFromLatest": excluded,
        "publishedDate": (NOW - timedelta(days=days_old)).isoformat() if days_old is not None else None,
        "endOfLifeDate": end_of_life,
        "tags": tags,
        "sizeBytes": size,
        "replication": {"state": "Completed", "regions": {}},
    }


def plan(versions, keep=2, min_age_days=7):
    return plan_retention(versions, template="web", keep=keep, min_age_days=min_age_days, now=NOW)


def verdicts(versions, **policy) -> dict[str, tuple[str, str]]:
    return {v.version: (v.action, v.rule) for v in plan(versions, **policy).verdicts}


def test_the_newest_keep_promoted_versions_stay_and_older_ones_go_with_the_storage_they_free():
    found = plan([version(f"1.0.{n}", days_old=40 - n, size=n * 100) for n in range(5)], keep=2)
    assert [(v.version, v.action, v.rule) for v in found.verdicts] == [
        ("1.0.0", DELETE, "superseded"),
        ("1.0.1", DELETE, "superseded"),
        ("1.0.2", DELETE, "superseded"),
        ("1.0.3", KEEP, "newest_promoted"),
        ("1.0.4", KEEP, "current_latest"),
    ]
    assert found.freed_bytes == 0 + 100 + 200 and found.unknown_sizes == 0
    assert found.deleted[0].reason == "superseded: 2 newer promoted versions are kept; 40 days old"


def test_versions_are_ordered_by_number_not_by_text():
    found = verdicts([version("1.0.10"), version("1.0.9"), version("1.0.2")], keep=1)
    assert found["1.0.10"] == (KEEP, "current_latest")
    assert found["1.0.9"] == found["1.0.2"] == (DELETE, "superseded")


def test_the_current_latest_stays_even_when_old_rejected_or_beyond_keep():
    # 1.0.3 is excluded (staged), so `latest` resolves to 1.0.1: the highest Succeeded not excluded.
    found = verdicts(
        [
            version("1.0.0", days_old=90),
            version("1.0.1", days_old=80),
            version("1.0.2", days_old=70, provisioning="Failed"),
            version("1.0.3", days_old=60, promotion="staged", excluded=True),
        ],
        keep=1,
    )
    assert found["1.0.1"] == (KEEP, "current_latest")
    assert found["1.0.0"] == (DELETE, "superseded")
    assert found["1.0.2"] == (DELETE, "failed")
    assert found["1.0.3"] == (KEEP, "staged")


def test_a_staged_version_stays_however_old():
    found = verdicts([version("1.0.0", days_old=1), version("1.0.1", days_old=400, promotion="staged", excluded=True)])
    assert found["1.0.1"] == (KEEP, "staged")


def test_versions_without_provenance_are_not_ours_to_delete():
    found = verdicts([version(f"1.0.{n}", template=None, days_old=100) for n in range(4)] + [version("2.0.0")], keep=1)
    assert [found[f"1.0.{n}"] for n in range(4)] == [(KEEP, "not_ours")] * 4


def test_another_templates_versions_are_left_to_its_own_policy():
    found = verdicts([version("1.0.0", template="api", days_old=100), version("1.0.1"), version("1.0.2")], keep=1)
    assert found["1.0.0"] == (KEEP, "other_template")
    assert found["1.0.1"] == (DELETE, "superseded")


def test_a_persons_promoted_version_counts_toward_keep():
    # A version `latest` can fall back to is one, whoever made it: keep=2 is met by 1.0.2 and 1.0.3.
    found = verdicts([version("1.0.1"), version("1.0.2", template=None), version("1.0.3")], keep=2)
    assert found == {
        "1.0.1": (DELETE, "superseded"),
        "1.0.2": (KEEP, "not_ours"),
        "1.0.3": (KEEP, "current_latest"),
    }


def test_versions_younger_than_min_age_stay_older_ones_go():
    found = verdicts(
        [version("1.0.0", days_old=8), version("1.0.1", days_old=6.9), version("1.0.2", days_old=1)], keep=1
    )
    assert found == {
        "1.0.0": (DELETE, "superseded"),
        "1.0.1": (KEEP, "too_young"),
        "1.0.2": (KEEP, "current_latest"),
    }


def test_rejected_and_rolled_back_versions_count_as_not_promoted_and_go_once_old_enough():
    found = verdicts(
        [
            version("1.0.0", days_old=50),
            version("1.0.1", days_old=40, promotion="rejected", excluded=True),
            version("1.0.2", days_old=30, promotion="rolled_back", excluded=True),
            version("1.0.3", days_old=3, promotion="rejected", excluded=True),
            version("1.0.4", days_old=20),
        ],
        keep=2,
    )
    # keep=2 counts promoted versions only: 1.0.0 and 1.0.4, so 1.0.0 stays.
    assert found == {
        "1.0.0": (KEEP, "newest_promoted"),
        "1.0.1": (DELETE, "rejected"),
        "1.0.2": (DELETE, "rolled_back"),
        "1.0.3": (KEEP, "too_young"),
        "1.0.4": (KEEP, "current_latest"),
    }


def test_versions_still_being_provisioned_stay():
    found = verdicts([version("0.9"), version("1.0.0", provisioning="Creating", days_old=99)], keep=1)
    assert found["1.0.0"] == (KEEP, "in_progress") and found["0.9"] == (KEEP, "current_latest")


def test_a_version_excluded_by_hand_is_left_alone():
    found = verdicts([version("1.0.0", excluded=True, days_old=99), version("1.0.1")], keep=1)
    assert found["1.0.0"] == (KEEP, "excluded_by_hand")


def test_a_version_a_catalog_entry_is_pinned_to_or_an_active_build_reads_stays_and_says_who():
    versions = [version(f"1.0.{n}", days_old=40 - n) for n in range(4)]
    pinned = {f"{IMAGE}/versions/1.0.0".lower(): {"api", "app"}}
    in_use = {f"{IMAGE}/versions/1.0.1".upper(): {"db"}}  # ids are case-insensitive
    found = plan_retention(versions, template="web", keep=1, min_age_days=7, now=NOW, pinned=pinned, in_use=in_use)
    assert [(v.version, v.action, v.rule, v.reason) for v in found.verdicts[:3]] == [
        ("1.0.0", KEEP, "pinned", "pinned in the catalog by api, app: their source names exactly this version"),
        ("1.0.1", KEEP, "in_use", "an active build of db builds from it"),
        ("1.0.2", DELETE, "superseded", "superseded: 1 newer promoted versions are kept; 38 days old"),
    ]


def test_a_version_of_unknown_age_stays():
    found = verdicts([version("1.0.0", days_old=None), version("1.0.1")], keep=1)
    assert found["1.0.0"] == (KEEP, "age_unknown")


def test_superseded_kept_versions_of_ours_get_the_day_they_become_deletable_or_now():
    found = plan(
        [
            version("1.0.0", days_old=30),  # past min age: now
            version("1.0.1", days_old=2),  # young: published + 7 days
            version("1.0.2", days_old=20, end_of_life="2027-01-01T00:00:00+00:00"),  # already dated: as it is
            version("1.0.3", days_old=25, template=None),  # a person's: not ours to date
            version("1.0.4", days_old=1),  # the latest: not superseded
        ],
        keep=5,
        min_age_days=7,
    )
    assert {v.version: v.end_of_life for v in found.verdicts} == {
        "1.0.0": NOW,
        "1.0.1": NOW - timedelta(days=2) + timedelta(days=7),
        "1.0.2": None,
        "1.0.3": None,
        "1.0.4": None,
    }
    assert [v.version for v in found.retired] == ["1.0.0", "1.0.1"]


def test_unknown_sizes_are_counted_not_guessed():
    found = plan([version("1.0.0", size=None), version("1.0.1", size=5), version("1.0.2")], keep=1)
    assert found.freed_bytes == 5 and found.unknown_sizes == 1


def test_azure_dates_with_seven_fractional_digits_and_naive_dates_are_read():
    azure = version("1.0.0") | {"publishedDate": "2026-11-30T12:00:00.1234567+00:00"}
    naive = version("1.0.1") | {"publishedDate": "2026-11-30T12:00:00"}
    found = verdicts([azure, naive, version("1.0.2")], keep=1, min_age_days=2)
    assert found["1.0.0"] == found["1.0.1"] == (KEEP, "too_young")


# ---- the property: whatever the gallery holds, prune never deletes what it must keep

STATES = st.sampled_from(
    [
        {},
        {"promotion": "staged", "excluded": True},
        {"promotion": "rejected", "excluded": True},
        {"promotion": "rolled_back", "excluded": True},
        {"excluded": True},
        {"end_of_life": "2026-01-01T00:00:00+00:00"},
        {"provisioning": "Failed"},
        {"provisioning": "Creating"},
        {"template": None},
        {"template": "api"},
    ]
)
VERSIONS = st.lists(
    st.tuples(st.integers(0, 40), STATES, st.one_of(st.none(), st.floats(0, 60))), max_size=12, unique_by=lambda t: t[0]
)


NUMBERS = st.sets(st.integers(0, 40), max_size=4)


@settings(max_examples=300, deadline=None)
@given(VERSIONS, st.integers(1, 5), st.integers(0, 30), NUMBERS, NUMBERS)
def test_prune_never_deletes_the_latest_staged_untagged_young_pinned_or_in_use_and_keeps_enough_promoted(
    found, keep, min_age, pinned_numbers, used_numbers
):
    docs = [version(f"1.0.{n}", days_old=age, **state) for n, state, age in found]
    pinned = {f"{IMAGE}/versions/1.0.{n}": {"app"} for n in pinned_numbers}
    in_use = {f"{IMAGE}/versions/1.0.{n}".upper(): {"db"} for n in used_numbers}
    found_plan = plan_retention(
        docs, template="web", keep=keep, min_age_days=min_age, now=NOW, pinned=pinned, in_use=in_use
    )
    verdict = {v.version_id: v for v in found_plan.verdicts}
    assert set(verdict) == {d["id"] for d in docs}
    promoted = [d for d in docs if d["provisioningState"] == "Succeeded" and not d["excludeFromLatest"]]
    latest = max(promoted, key=lambda d: int(d["name"].rsplit(".", 1)[-1]), default=None)
    for d in docs:
        if verdict[d["id"]].action != DELETE:
            continue
        assert d is not latest
        assert d["id"] not in pinned and d["id"].upper() not in in_use
        assert version_state(d) != "staged"
        assert d["tags"].get("aibtrigger.template") == "web"
        published = datetime.fromisoformat(d["publishedDate"])
        assert NOW - published >= timedelta(days=min_age)
    kept_promoted = [d for d in promoted if verdict[d["id"]].action == KEEP]
    assert len(kept_promoted) >= min(keep, len(promoted))
    assert all(v.end_of_life is None or v.end_of_life >= NOW for v in verdict.values())
