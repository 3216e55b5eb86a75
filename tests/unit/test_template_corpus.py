"""Real public image templates (tests/fixtures/templates, SOURCES.md) are accepted as catalog
definitions, with exactly the read-only fields EXPECTED.json says are ignored."""

import collections

import pytest

from aibtrigger.catalog import check_catalog
from tests.unit.template_corpus import EXPECTED, as_catalog, fixture_names, pasted_templates


def test_the_corpus_has_25_templates_or_more_and_each_has_an_expected_reading():
    names = fixture_names()
    assert len(names) >= 25
    assert set(names) == set(EXPECTED)
    by_source = collections.Counter(EXPECTED[name]["source"] for name in names)
    assert set(by_source) == {"rest", "docs", "community"}, by_source


@pytest.mark.parametrize("name", fixture_names())
def test_every_corpus_template_is_accepted(name):
    [template] = pasted_templates(name)
    report = check_catalog(as_catalog(template))
    assert report.problems == []
    ignored = [note.split(".definition.", 1)[1] for note in report.notes]
    assert ignored == [f"{path}: read-only, ignored" for path in EXPECTED[name]["ignored"]]
    assert report.catalog.get("pasted").definition.distribute  # a usable definition, not just "no errors"


def test_the_spec_example_with_a_gallery_typo_is_refused_naming_the_field():
    [template] = pasted_templates("rejected/rest-2023-07-01-list-gallery-typo.json", fill={})
    report = check_catalog(as_catalog(template))
    assert len(report.problems) == 1
    assert report.problems[0].startswith(
        "templates[0] (pasted).definition.properties.distribute[1].galleryImageId: Value error, must look like"
    )
