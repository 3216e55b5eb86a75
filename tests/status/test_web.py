"""Content negotiation, links, and the request-a-build action (the page's one write)."""

import json

import pytest

from aibtrigger.names import REQUESTS_QUEUE
from aibtrigger.status import web
from aibtrigger.status.html_page import Links

NAME = "ubuntu-2204-hardened-000"


@pytest.mark.parametrize(
    "accept, expected",
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("text/html,application/xhtml+xml,*/*;q=0.8", False),
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/json, text/html", True),
        ("text/html, application/json", False),
    ],
)
def test_json_only_when_asked_before_html(accept, expected):
    assert web.wants_json(accept) is expected


@pytest.mark.parametrize(
    "path, base",
    [
        ("/api/status", "/api/status"),
        ("/api/status/lineage", "/api/status"),
        ("/api/status/templates/status-page", "/api/status"),
        ("/x/status/templates/a/build", "/x/status"),
    ],
)
def test_the_overview_path_is_found_from_any_view(path, base):
    assert web.links_for(path, "").base == base and web.links_for(path, "").code is None


def test_request_a_build_queues_one_manual_request_and_redirects_to_the_page(deps200):
    reply = web.build(
        deps200,
        NAME,
        form=b"reason=patch+Tuesday",
        accept=None,
        links=Links("/api/status", "k"),
        requested_by="alice@example.com",
    )
    [sent] = deps200.queue.sent
    message = json.loads(sent.text)
    assert sent.queue == REQUESTS_QUEUE
    assert message["template"] == NAME and message["reason"] == "patch Tuesday"
    assert message["requested_by"] == "alice@example.com" and message["id"].startswith("status-")
    assert "signal" not in message or message["signal"] == "manual"
    assert reply.status == 303
    assert reply.headers["Location"] == f"/api/status/templates/{NAME}?code=k&queued={message['id']}"


def test_request_a_build_as_json_answers_202_with_the_message(deps200, links):
    reply = web.build(deps200, NAME, form=b"", accept="application/json", links=links, requested_by=None)
    body = json.loads(reply.body)
    assert reply.status == 202 and body["queued"]["reason"] == "requested on the status page"
    assert body["queued"]["requested_by"] == "status page"


def test_request_a_build_refuses_an_unknown_template_and_a_bad_reason_and_queues_nothing(deps200, links):
    unknown = web.build(deps200, "nope", form=b"", accept="application/json", links=links, requested_by=None)
    assert unknown.status == 404 and "nope" in json.loads(unknown.body)["error"]
    too_long = web.build(deps200, NAME, form=b"reason=" + b"x" * 1001, accept=None, links=links, requested_by=None)
    assert too_long.status == 400 and "reason" in too_long.body
    assert deps200.queue.sent == []


def test_the_queued_notice_shows_on_the_template_page(deps200, links):
    page = web.template(deps200, NAME, accept=None, links=links, queued="status-abc").body
    assert 'role="status"' in page and "status-abc" in page


@pytest.mark.parametrize(
    "origin, refused",
    [
        (None, False),
        ("http://127.0.0.1:7071", False),
        ("https://App.azurewebsites.net", False),
        ("https://evil.example", True),
        ("null", True),
        ("http://127.0.0.1:9999", True),
    ],
)
def test_a_browser_post_from_another_site_is_refused(deps200, links, origin, refused):
    reply = web.build(
        deps200,
        NAME,
        form=b"",
        accept=None,
        links=links,
        requested_by=None,
        origin=origin,
        hosts=("127.0.0.1:7071", "app.azurewebsites.net", None),
    )
    assert (reply.status == 403) is refused and len(deps200.queue.sent) == (0 if refused else 1)


def test_a_long_signed_in_name_is_cut_to_what_the_message_allows(deps200, links):
    web.build(deps200, NAME, form=b"", accept=None, links=links, requested_by="x" * 500)
    assert json.loads(deps200.queue.sent[0].text)["requested_by"] == "x" * 200
