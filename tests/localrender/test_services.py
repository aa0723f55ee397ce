"""Service endpoints: list, get, PATCH (maintenance mode and friends), and Render's 400/404/409."""

from __future__ import annotations

from tests.localrender.conftest import OWNER, TASKS

SECOND = {"id": "srv-d4mdlocalrendersecnd", "name": "worker", "type": "background_worker",
          "serviceDetails": {"env": "python", "runtime": "python"}}


def test_default_workspace_lists_the_tasks_web_service(api):
    items = api.get("/services").json()
    assert [(i["service"]["id"], i["service"]["name"], i["service"]["type"]) for i in items] == [
        (TASKS, "tasks", "web_service")]
    tasks = api.get(f"/services/{TASKS}").json()
    assert tasks["ownerId"] == OWNER
    assert tasks["autoDeploy"] == "yes" and tasks["suspended"] == "not_suspended"
    assert tasks["serviceDetails"]["maintenanceMode"] == {"enabled": False, "uri": ""}
    assert "envVars" not in tasks and "x-localrender" not in tasks


def test_list_filters_by_name_type_and_owner(serve):
    api = serve(state={"services": [{"id": TASKS, "name": "tasks"}, SECOND]})
    assert [i["service"]["id"] for i in api.get("/services", params={"type": "background_worker"}).json()] == [
        SECOND["id"]]
    assert [i["service"]["id"] for i in api.get("/services", params={"name": "tasks"}).json()] == [TASKS]
    assert api.get("/services", params={"ownerId": "tea-other"}).json() == []


def test_patch_turns_maintenance_mode_on_and_off(api):
    on = api.patch(f"/services/{TASKS}", json={"serviceDetails": {"maintenanceMode": {"enabled": True,
                                                                                      "uri": "/down.html"}}})
    assert on.status_code == 200
    assert on.json()["serviceDetails"]["maintenanceMode"] == {"enabled": True, "uri": "/down.html"}
    assert api.get(f"/services/{TASKS}").json()["serviceDetails"]["maintenanceMode"]["enabled"] is True
    off = api.patch(f"/services/{TASKS}", json={"serviceDetails": {"maintenanceMode": {"enabled": False, "uri": ""}}})
    assert off.json()["serviceDetails"]["maintenanceMode"] == {"enabled": False, "uri": ""}


def test_patch_needs_both_maintenance_fields(api):
    reply = api.patch(f"/services/{TASKS}", json={"serviceDetails": {"maintenanceMode": {"enabled": True}}})
    assert reply.status_code == 400 and "uri" in reply.json()["message"]


def test_patch_keeps_unmentioned_details_and_settings(api):
    reply = api.patch(f"/services/{TASKS}", json={"autoDeploy": "no",
                                                  "serviceDetails": {"envSpecificDetails": {"startCommand": "node s"}}})
    assert reply.status_code == 200
    service = reply.json()
    assert service["autoDeploy"] == "no"
    assert service["serviceDetails"]["envSpecificDetails"] == {"buildCommand": "npm ci && npm run build",
                                                               "startCommand": "node s"}
    assert service["serviceDetails"]["healthCheckPath"] == "/api/health"


def test_patch_rejects_maintenance_mode_on_a_worker_and_bad_values(serve):
    api = serve(state={"services": [SECOND]})
    reply = api.patch(f"/services/{SECOND['id']}",
                      json={"serviceDetails": {"maintenanceMode": {"enabled": True, "uri": ""}}})
    assert reply.status_code == 400
    assert api.patch(f"/services/{SECOND['id']}", json={"autoDeploy": True}).status_code == 400
    assert api.patch(f"/services/{SECOND['id']}", json={"colour": "red"}).status_code == 400


def test_renaming_onto_another_service_name_is_a_conflict(serve):
    api = serve(state={"services": [{"id": TASKS, "name": "tasks"}, SECOND]})
    assert api.patch(f"/services/{SECOND['id']}", json={"name": "tasks"}).status_code == 409
    assert api.patch(f"/services/{SECOND['id']}", json={"name": "jobs"}).json()["name"] == "jobs"


def test_unknown_service_is_404_with_renders_message(api):
    reply = api.get("/services/srv-missing")
    assert reply.status_code == 404 and reply.json() == {"message": "not found: srv-missing"}
    assert api.patch("/services/srv-missing", json={"name": "x"}).status_code == 404


def test_owners_lists_the_workspace_and_filters_by_name(api):
    owners = api.get("/owners").json()
    assert [o["owner"]["id"] for o in owners] == [OWNER]
    assert api.get("/owners", params={"name": "nobody"}).json() == []
    assert api.get(f"/owners/{OWNER}").json()["type"] == "team"
    assert api.get("/owners/tea-unknown").status_code == 404
