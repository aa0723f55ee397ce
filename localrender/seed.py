"""The default workspace and the filling-in of seeded records, so a state file may stay short."""

from __future__ import annotations

import re
import secrets

from .replies import new_id, now_iso, parse_iso, random_token

PRIVATE = "x-localrender"  # per-record key for what Render does not show: passwords, hook keys, start commands
STG_DB_ID = "dpg-d4mdlojuibrs738gqn00-a"
OWNER_ID = "tea-d4mdlocalrenderteam0"
TASKS_SERVICE_ID = "srv-d4mdlocalrendertasks"
FREE_DAYS = 30  # free Postgres lifetime in recent Render material (older docs said 90)


def default_workspace() -> dict:
    """One team, the tasks web service (a few env vars, one live deploy) and the stg database."""
    return {
        "owners": [{"id": OWNER_ID, "name": "Tasks team", "email": "tasks-team@example.com", "type": "team"}],
        "postgres": [{
            "id": STG_DB_ID, "name": "test-codex-migration-stg-db", "plan": "free", "version": "15",
            "region": "oregon", "databaseName": "test_codex_migration_stg_db_x8qa",
            "databaseUser": "test_codex_migration_stg_db_user",
        }],
        "services": [{
            "id": TASKS_SERVICE_ID, "name": "tasks", "type": "web_service",
            "envVars": [
                {"key": "NODE_ENV", "value": "production"},
                {"key": "NEXT_TELEMETRY_DISABLED", "value": "1"},
                {"key": "DATABASE_URL", "fromDatabase": {"id": STG_DB_ID, "property": "internalConnectionString"}},
            ],
            "deploys": [{"status": "live", "trigger": "new_commit"}],
        }],
    }


def fill(data: dict) -> dict:
    """Complete every seeded record in place with Render's defaults; returns ``data``."""
    data.setdefault("owners", [])
    if not data["owners"]:
        data["owners"].append({"id": OWNER_ID, "name": "Tasks team", "email": "tasks-team@example.com",
                               "type": "team"})
    owner_id = data["owners"][0]["id"]
    for record in data.setdefault("postgres", []):
        fill_postgres(record, owner_id)
    for record in data.setdefault("services", []):
        fill_service(record, owner_id)
    return data


def slug(name: str) -> str:
    """A Postgres identifier made from a dashboard name: lowercase letters, digits and underscores."""
    text = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "db"
    return ("d_" + text if text[0].isdigit() else text)[:40]


def fill_postgres(record: dict, owner_id: str) -> dict:
    created = record.setdefault("createdAt", now_iso())
    record.setdefault("id", new_id("dpg-", "-a"))
    record.setdefault("name", record["id"])
    record.setdefault("ownerId", owner_id)
    for key, value in (("plan", "free"), ("version", "15"), ("region", "oregon"), ("role", "primary"),
                       ("status", "available"), ("suspended", "not_suspended"), ("highAvailabilityEnabled", False),
                       ("diskAutoscalingEnabled", False), ("updatedAt", created)):
        record.setdefault(key, value)
    record.setdefault("databaseName", slug(record["name"]))
    record.setdefault("databaseUser", slug(record["name"]) + "_user")
    for key in ("suspenders", "ipAllowList", "readReplicas"):
        record.setdefault(key, [])
    if record["plan"] == "free" and "expiresAt" not in record:
        record["expiresAt"] = now_iso(_epoch(created) + FREE_DAYS * 86400)
    private = record.setdefault(PRIVATE, {})
    private.setdefault("password", secrets.token_urlsafe(24))
    return record


def fill_service(record: dict, owner_id: str) -> dict:
    created = record.setdefault("createdAt", now_iso())
    record.setdefault("id", new_id("srv-"))
    record.setdefault("name", record["id"])
    record.setdefault("slug", slug(record["name"]).replace("_", "-"))
    for key, value in (("ownerId", owner_id), ("type", "web_service"), ("autoDeploy", "yes"), ("branch", "main"),
                       ("repo", f"https://github.com/example/{record['slug']}"), ("rootDir", ""),
                       ("notifyOnFail", "default"), ("suspended", "not_suspended"), ("updatedAt", created)):
        record.setdefault(key, value)
    record.setdefault("suspenders", [])
    record.setdefault("dashboardUrl", f"https://dashboard.render.com/web/{record['id']}")
    record["serviceDetails"] = {**_web_details(record), **record.get("serviceDetails", {})}
    record.setdefault("envVars", [])
    record.setdefault("deploys", [])
    for deploy in record["deploys"]:
        fill_deploy(deploy, created)
    private = record.setdefault(PRIVATE, {})
    private.setdefault("deployHookKey", random_token(11))
    return record


def fill_deploy(deploy: dict, created: str | None = None) -> dict:
    stamp = deploy.setdefault("createdAt", created or now_iso())
    deploy.setdefault("id", new_id("dep-"))
    deploy.setdefault("status", "live")
    deploy.setdefault("trigger", "api")
    deploy.setdefault("commit", {"id": secrets.token_hex(20), "message": "seeded commit", "createdAt": stamp})
    deploy.setdefault("updatedAt", stamp)
    deploy.setdefault("startedAt", stamp)
    if deploy["status"] in ("live", "deactivated", "build_failed", "update_failed", "canceled"):
        deploy.setdefault("finishedAt", stamp)
    plan = ["build_in_progress", "update_in_progress", "live"]
    private = deploy.setdefault(PRIVATE, {"plan": plan, "step": plan.index(deploy["status"])
                                          if deploy["status"] in plan else -1})
    private.setdefault("t0", _epoch(stamp))
    return deploy


def _web_details(record: dict) -> dict:
    return {
        "env": "node", "runtime": "node", "plan": "starter", "region": "oregon", "numInstances": 1,
        "buildPlan": "starter", "healthCheckPath": "/api/health",
        "envSpecificDetails": {"buildCommand": "npm ci && npm run build", "startCommand": "npm start"},
        "openPorts": [{"port": 10000, "protocol": "TCP"}], "url": f"https://{record['slug']}.onrender.com",
        "maintenanceMode": {"enabled": False, "uri": ""}, "maxShutdownDelaySeconds": 30,
        "previews": {"generation": "off"},
    }


def _epoch(iso: str) -> float:
    return parse_iso(iso).timestamp()
