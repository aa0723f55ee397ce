"""Deploys: lifecycle states, deactivation of the previous live deploy, failures, queueing, rollback, hook."""

from __future__ import annotations

import requests

from tests.localrender.conftest import TASKS, wait_for

DEPLOYS = f"/services/{TASKS}/deploys"


def _status(api, deploy_id: str) -> str:
    return api.get(f"{DEPLOYS}/{deploy_id}").json()["status"]


def _live_deploy(api) -> dict:
    return api.get(DEPLOYS, params={"status": "live"}).json()[0]["deploy"]


def test_deploy_walks_through_the_states_to_live(serve):
    api = serve(deploy_step_seconds=0.15)
    created = api.post(DEPLOYS, json={})
    assert created.status_code == 201
    deploy = created.json()
    assert (deploy["status"], deploy["trigger"]) == ("created", "api")
    seen = [deploy["status"]]

    def record():
        status = _status(api, deploy["id"])
        if status != seen[-1]:
            seen.append(status)
        return status == "live"

    wait_for(record, interval=0.01)
    assert seen == ["created", "build_in_progress", "update_in_progress", "live"]
    assert api.get(f"{DEPLOYS}/{deploy['id']}").json()["finishedAt"]


def test_new_live_deploy_deactivates_the_previous_one(api):
    before = _live_deploy(api)
    deploy = api.post(DEPLOYS, json={"commitId": "abc123"}).json()
    assert deploy["commit"]["id"] == "abc123"
    wait_for(lambda: _status(api, deploy["id"]) == "live")
    assert _status(api, before["id"]) == "deactivated"
    assert [d["deploy"]["id"] for d in api.get(DEPLOYS, params={"status": "live"}).json()] == [deploy["id"]]


def test_list_is_newest_first_and_pages(api):
    made = []
    for _ in range(3):
        made.append(api.post(DEPLOYS, json={}).json()["id"])
        wait_for(lambda: _status(api, made[-1]) == "live")
    page1 = api.get(DEPLOYS, params={"limit": 2}).json()
    page2 = api.get(DEPLOYS, params={"limit": 2, "cursor": page1[-1]["cursor"]}).json()
    ids = [d["deploy"]["id"] for d in page1 + page2]
    assert ids[:3] == made[::-1]
    assert len(ids) == 4  # the seeded deploy comes last


def test_configured_failure_ends_in_build_failed_and_keeps_the_live_deploy(api, localrender):
    before = _live_deploy(api)
    localrender.faults.fail_deploy("build_failed", TASKS)
    deploy = api.post(DEPLOYS, json={}).json()
    wait_for(lambda: _status(api, deploy["id"]) == "build_failed")
    assert _status(api, before["id"]) == "live"


def test_deploy_while_one_runs_is_queued_with_202(serve):
    api = serve(deploy_step_seconds=0.1)
    first = api.post(DEPLOYS, json={}).json()
    second = api.post(DEPLOYS, json={})
    assert second.status_code == 202 and second.content == b""
    queued = api.get(DEPLOYS, params={"status": "queued"}).json()
    assert len(queued) == 1
    wait_for(lambda: _status(api, queued[0]["deploy"]["id"]) == "live")
    assert _status(api, first["id"]) == "deactivated"


def test_rollback_redeploys_the_target_commit(api):
    original = _live_deploy(api)
    newer = api.post(DEPLOYS, json={"commitId": "new"}).json()
    wait_for(lambda: _status(api, newer["id"]) == "live")
    reply = api.post(f"/services/{TASKS}/rollback", json={"deployId": original["id"]})
    assert reply.status_code == 201
    rollback = reply.json()
    assert rollback["trigger"] == "rollback" and rollback["commit"]["id"] == original["commit"]["id"]
    wait_for(lambda: _status(api, rollback["id"]) == "live")
    assert _status(api, newer["id"]) == "deactivated"


def test_rollback_refuses_unknown_and_failed_targets(api, localrender):
    assert api.post(f"/services/{TASKS}/rollback", json={"deployId": "dep-nope"}).status_code == 404
    assert api.post(f"/services/{TASKS}/rollback", json={}).status_code == 400
    localrender.faults.fail_deploy("build_failed", TASKS)
    failed = api.post(DEPLOYS, json={}).json()
    wait_for(lambda: _status(api, failed["id"]) == "build_failed")
    assert api.post(f"/services/{TASKS}/rollback", json={"deployId": failed["id"]}).status_code == 400


def test_cancel_stops_a_running_deploy(serve):
    api = serve(deploy_step_seconds=30)
    deploy = api.post(DEPLOYS, json={}).json()
    reply = api.post(f"{DEPLOYS}/{deploy['id']}/cancel")
    assert reply.status_code == 200 and reply.json()["status"] == "canceled"
    assert api.post(f"{DEPLOYS}/{deploy['id']}/cancel").status_code == 400


def test_create_rejects_bad_bodies(api):
    assert api.post(DEPLOYS, json={"clearCache": "sometimes"}).status_code == 400
    assert api.post(DEPLOYS, json={"imageUrl": "docker.io/library/nginx:1"}).status_code == 400
    assert api.post(DEPLOYS, json={"deployMode": "deploy_only", "commitId": "x"}).status_code == 400
    assert api.post("/services/srv-nope/deploys", json={}).status_code == 404
    assert api.get(f"{DEPLOYS}/dep-nope").status_code == 404


def test_deploy_hook_triggers_a_deploy_without_an_auth_header(api, localrender):
    url = localrender.deploy_hook_url(TASKS)
    session = requests.Session()
    session.trust_env = False
    reply = session.post(url, timeout=10)
    assert reply.status_code == 200
    deploy_id = reply.json()["deploy"]["id"]
    assert api.get(f"{DEPLOYS}/{deploy_id}").json()["trigger"] == "deploy_hook"
    assert session.get(url.replace("key=", "key=x"), timeout=10).status_code == 404
    assert session.get(url.replace(TASKS, "srv-nope"), timeout=10).status_code == 404


def test_admin_endpoint_hands_out_the_deploy_hook_url(api, localrender, render_key):
    reply = api.session.get(f"{localrender.admin_url}/services/{TASKS}/deploy-hook", timeout=10)
    assert reply.json() == {"url": localrender.deploy_hook_url(TASKS)}
