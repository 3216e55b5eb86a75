"""promote / reject / rollback as commands: the CLI and the HTTP functions (admin level), on the lineage world."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from aibtrigger.domain.promotion import PROMOTED, REJECTED
from tests.unit.test_promotions import patch_and_build_base, run_of, world_with


@pytest.fixture
def world(monkeypatch):
    found = world_with({"mode": "manual"})
    patch_and_build_base(found)
    monkeypatch.setattr("aibtrigger.bootstrap.get_deps", lambda: found.deps)
    monkeypatch.setattr("aibtrigger.cli._deps", lambda: found.deps)
    return found


def call(function, route_params: dict, body: object = None, headers: dict | None = None):
    request = func.HttpRequest(
        method="POST",
        url="http://localhost/api/x",
        headers=headers or {},
        route_params=route_params,
        body=json.dumps(body).encode() if body is not None else b"",
    )
    answer = function.build().get_user_function()(request)
    return answer.status_code, json.loads(answer.get_body())


def test_the_promotion_functions_require_the_master_key():
    """Read from each function's own builder: function_app.app.get_functions() may be called only once
    per process (the library refuses to index the same app twice)."""
    from aibtrigger.entrypoints import http, versions

    def level(function):
        return function.build().get_trigger().auth_level

    assert {level(f) for f in (versions.promote_run, versions.reject_run, versions.rollback_template)} == {
        func.AuthLevel.ADMIN
    }
    assert level(http.enqueue_request) == func.AuthLevel.FUNCTION


def test_http_promote_records_the_signed_in_user_and_a_repeat_changes_nothing(world):
    from aibtrigger.entrypoints.versions import promote_run

    run_id = run_of(world).run_id
    headers = {"x-ms-client-principal-name": "alice@contoso.com"}
    status, answer = call(promote_run, {"run_id": run_id}, {"reason": "soaked a day", "by": "mallory"}, headers)
    assert (status, answer["state"], answer["changed"]) == (200, PROMOTED, True)
    action = run_of(world).promotion["actions"][-1]
    assert (action["by"], action["why"]) == ("alice@contoso.com", "soaked a day")
    status, answer = call(promote_run, {"run_id": run_id}, {})
    assert (status, answer["changed"]) == (200, False)


def test_http_answers_name_what_is_wrong(world):
    from aibtrigger.entrypoints.versions import promote_run, reject_run, rollback_template

    run_id = run_of(world).run_id
    assert call(promote_run, {"run_id": "base.nope"}, {})[0] == 404
    status, answer = call(reject_run, {"run_id": run_id}, {})
    assert status == 400 and "reason: required" in answer["error"]
    status, answer = call(reject_run, {"run_id": run_id}, ["not", "an", "object"])
    assert status == 400 and "JSON object" in answer["error"]
    assert call(reject_run, {"run_id": run_id}, {"reason": "CVE"})[1]["state"] == REJECTED
    status, answer = call(promote_run, {"run_id": run_id}, {})
    assert status == 409 and "is rejected" in answer["error"]
    status, answer = call(rollback_template, {"name": "nope"}, {"reason": "x"})
    assert status == 404 and "nope" in answer["error"]


def test_cli_promote_reject_and_rollback(world, capsys):
    from aibtrigger.cli import main

    run_id = run_of(world).run_id
    assert main(["promote", run_id, "--by", "alice", "--reason", "ok"]) == 0
    assert f"{run_id}: promoted:" in capsys.readouterr().out
    world.requests()
    world.settle("web")
    assert main(["rollback", "base", "--reason", "boot loop"]) == 0
    assert "base: rolled_back: latest falls back: 1.0.2 -> 1.0.1" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # --reason is required
        main(["reject", run_id])
    assert "required: --reason" in capsys.readouterr().err
    assert main(["promote", "base.nope"]) == 2
    assert "no run 'base.nope'" in capsys.readouterr().err
