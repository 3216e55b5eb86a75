"""Version comparison: numeric part by part, tolerant of odd parts, one total order."""

import pytest

from aibtrigger.domain.versions import is_newer, version_key, version_of


@pytest.mark.parametrize(
    "newer, older",
    [
        ("22.04.202411050", "22.04.202410020"),  # marketplace patch
        ("1.0.10", "1.0.9"),  # numeric, not text: '10' > '9'
        ("10.0.0", "9.9.9"),
        ("1.0.1", "1.0"),  # a missing part is older than a non-zero one
        ("1.x", "1.999"),  # a non-numeric part sorts after any numeric part at its position
        ("1.z", "1.rc"),  # non-numeric parts compare as text
        ("2", "1.99.99"),
    ],
)
def test_is_newer(newer, older):
    assert is_newer(newer, older)
    assert not is_newer(older, newer)


@pytest.mark.parametrize(
    "a, b",
    [
        ("1.0", "1.0.0"),  # trailing zeros do not count
        ("1.RC", "1.rc"),  # text parts are case-insensitive
        (" 1.2.3 ", "1.2.3"),
        ("01.2", "1.2"),  # leading zeros are the same number
    ],
)
def test_equal_versions_are_not_newer_either_way(a, b):
    assert version_key(a) == version_key(b)
    assert not is_newer(a, b) and not is_newer(b, a)


def test_order_is_total_and_never_raises_on_odd_input():
    versions = ["1.0.3", "latest", "", "1..2", "1.0.3-beta", "22.04.202411050", "1.0.10", "1.0.9"]
    ordered = sorted(versions, key=version_key)
    assert ordered[0] == ""  # the empty version is the oldest
    assert ordered.index("1.0.9") < ordered.index("1.0.10") < ordered.index("22.04.202411050")


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.3", "1.0.3"),
        ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/Versions/2.0.0", "2.0.0"),
        ("1.0.3", "1.0.3"),
    ],
)
def test_version_of_takes_the_version_out_of_a_version_id(value, expected):
    assert version_of(value) == expected
