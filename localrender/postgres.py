"""``/v1/postgres``: create, list, get, PATCH (plan and disk only go up), delete, suspend/resume, connection info."""

from __future__ import annotations

from .owners import render_owner
from .paging import filter_in, filter_time, page
from .plans import ENTERPRISE_PREFIXES, PLANS, REGIONS, VERSIONS, check_upgrade
from .replies import ApiError, check_fields, json_object, json_reply, new_id, now_iso, random_token, want_type
from .seed import PRIVATE, fill_postgres, slug

_CREATE_FIELDS = {"name", "ownerId", "plan", "version", "region", "databaseName", "databaseUser", "diskSizeGB",
                  "enableDiskAutoscaling", "enableHighAvailability", "environmentId", "ipAllowList", "readReplicas",
                  "connectionPool", "datadogAPIKey", "datadogSite", "parameterOverrides"}
_PATCH_FIELDS = {"name", "plan", "diskSizeGB", "enableDiskAutoscaling", "enableHighAvailability", "ipAllowList",
                 "readReplicas", "connectionPool", "datadogAPIKey", "datadogSite", "parameterOverrides"}
_HIDDEN = {PRIVATE, "ownerId", "datadogAPIKey", "datadogSite"}


def render(ctx, record: dict, detail: bool = True) -> dict:
    """Render's ``postgresDetail`` (or the list item ``postgres`` when ``detail`` is False)."""
    out = {k: v for k, v in record.items() if k not in _HIDDEN}
    out["owner"] = render_owner(ctx.store.owner(record["ownerId"]))
    out["dashboardUrl"] = f"https://dashboard.render.com/d/{record['id']}"
    if detail:
        # The spec lists `project` as required without describing it; null stands for "in no project".
        out["project"] = None
    else:
        out.pop("parameterOverrides", None)
    return out


def advance(ctx, now: float) -> bool:
    """Move databases whose delay has passed from ``creating`` to ``available``; True when any changed."""
    changed = False
    for record in ctx.store.data["postgres"]:
        ready_at = record[PRIVATE].get("readyAt")
        if record["status"] == "creating" and ready_at is not None and now >= ready_at:
            record["status"], record["updatedAt"] = "available", now_iso(now)
            record[PRIVATE].pop("readyAt", None)
            changed = True
    return changed


def list_postgres(ctx, request):
    args = request.args
    with ctx.store.lock:
        items = ctx.store.data["postgres"]
        for param, value in (("name", lambda r: r["name"]), ("region", lambda r: r["region"]),
                             ("suspended", lambda r: r["suspended"]), ("ownerId", lambda r: r["ownerId"]),
                             ("environmentId", lambda r: r.get("environmentId", ""))):
            items = filter_in(args, items, param, value)
        items = filter_time(args, filter_time(args, items, "createdAt", "created"), "updatedAt", "updated")
        body = page(args, "postgres", items, lambda r: [r["createdAt"], r["id"]], lambda r: render(ctx, r, False))
    return json_reply(200, body)


def get_postgres(ctx, request, postgres_id: str):
    with ctx.store.lock:
        return json_reply(200, render(ctx, ctx.store.postgres(postgres_id)))


def create_postgres(ctx, request):
    body = json_object(request)
    _check_create(ctx, body)
    now = ctx.clock()
    record = _new_record(body, now)
    stuck = request.environ.get("localrender.decision") and request.environ["localrender.decision"].stuck_creating
    record[PRIVATE]["readyAt"] = None if stuck else now + ctx.postgres_ready_after
    if ctx.pg is not None:
        ctx.pg.create(record["databaseName"], record["databaseUser"], _shared_password(ctx, record))
    with ctx.store.lock:
        ctx.store.data["postgres"].append(record)
        reply = render(ctx, record)
    reply["status"] = "unknown"  # what Render answers to the POST itself; GETs then show `creating`
    return json_reply(201, reply)


def patch_postgres(ctx, request, postgres_id: str):
    body = json_object(request)
    check_fields(body, _PATCH_FIELDS, "postgres update")
    with ctx.store.lock:
        record = ctx.store.postgres(postgres_id)
        if record["status"] != "available":
            raise ApiError(409, f"postgres {postgres_id} cannot be updated while its status is {record['status']}")
        _check_patch(record, body)
        _apply_patch(ctx, record, body)
        return json_reply(200, render(ctx, record))


def delete_postgres(ctx, request, postgres_id: str):
    with ctx.store.lock:
        record = ctx.store.postgres(postgres_id)
        ctx.store.data["postgres"].remove(record)
        user_in_use = any(r["databaseUser"] == record["databaseUser"] for r in ctx.store.data["postgres"])
    if ctx.pg is not None:
        ctx.pg.drop(record["databaseName"], None if user_in_use else record["databaseUser"])
    return json_reply(204)


def suspend_postgres(ctx, request, postgres_id: str):
    return _set_suspended(ctx, postgres_id, True)


def resume_postgres(ctx, request, postgres_id: str):
    return _set_suspended(ctx, postgres_id, False)


def connection_info(ctx, request, postgres_id: str):
    with ctx.store.lock:
        record = ctx.store.postgres(postgres_id)
        return json_reply(200, connection_strings(ctx, record))


def connection_strings(ctx, record: dict) -> dict:
    """The four connection fields; real-database mode points both URLs at the local cluster."""
    user, password, name = record["databaseUser"], record[PRIVATE]["password"], record["databaseName"]
    if ctx.pg is not None:
        internal = external = ctx.pg.url(user, password, name)
        host, port = ctx.pg.host, ctx.pg.port
    else:
        host, port = f"{record['id']}.{record['region']}-postgres.render.com", 5432
        internal = f"postgresql://{user}:{password}@{record['id']}/{name}"
        external = f"postgresql://{user}:{password}@{host}:{port}/{name}"
    return {"password": password, "internalConnectionString": internal, "externalConnectionString": external,
            "psqlCommand": f"PGPASSWORD={password} psql -h {host} -p {port} -U {user} {name}"}


def ensure_databases(ctx) -> None:
    """Real-database mode: make sure every database in the state exists on the cluster (seeded ones too)."""
    with ctx.store.lock:
        records = list(ctx.store.data["postgres"])
    for record in records:
        ctx.pg.create(record["databaseName"], record["databaseUser"], _shared_password(ctx, record))
        ctx.pg.set_connectable(record["databaseName"], record["suspended"] != "suspended")


def _check_create(ctx, body: dict) -> None:
    check_fields(body, _CREATE_FIELDS, "postgres create")
    for required in ("name", "ownerId", "plan", "version"):
        if required not in body:
            raise ApiError(400, f"missing required field: {required}")
    for name in ("name", "ownerId", "plan", "version", "region", "databaseName", "databaseUser"):
        want_type(body, name, str, "postgres")
    want_type(body, "diskSizeGB", int, "postgres")
    if body["plan"] not in PLANS:
        raise ApiError(400, f"invalid plan: {body['plan']}")
    if body["version"] not in VERSIONS:
        raise ApiError(400, f"invalid version: {body['version']}")
    if body.get("region", "oregon") not in REGIONS:
        raise ApiError(400, f"invalid region: {body['region']}")
    if not body["name"].strip():
        raise ApiError(400, "name must not be empty")
    with ctx.store.lock:
        ctx.store.owner(body["ownerId"])  # an unknown owner is Render's bare 404
        free = [r for r in ctx.store.data["postgres"] if r["ownerId"] == body["ownerId"] and r["plan"] == "free"]
    if body["plan"] == "free" and free:
        raise ApiError(400, f"workspace {body['ownerId']} already has a free database ({free[0]['id']}); "
                            "only one active free database is allowed per workspace")
    _check_high_availability(body["plan"], body["version"], body.get("enableHighAvailability", False))


def _new_record(body: dict, now: float) -> dict:
    base = slug(body.get("databaseName") or body["name"])[:50]
    record = {
        "id": new_id("dpg-", "-a"), "name": body["name"], "ownerId": body["ownerId"], "plan": body["plan"],
        "version": body["version"], "region": body.get("region", "oregon"), "status": "creating",
        # Render appends a random suffix to the requested databaseName (observed: db_name -> db_name_ehyv).
        "databaseName": f"{base}_{random_token(4)}",
        "databaseUser": body.get("databaseUser") or slug(body["name"])[:50] + "_user",
        "highAvailabilityEnabled": bool(body.get("enableHighAvailability", False)),
        "diskAutoscalingEnabled": bool(body.get("enableDiskAutoscaling", False)),
        "ipAllowList": body.get("ipAllowList") or [], "createdAt": now_iso(now), "updatedAt": now_iso(now),
        "readReplicas": [{"id": new_id("dpg-", "-b"), "name": r["name"]} for r in body.get("readReplicas") or []],
    }
    for optional in ("diskSizeGB", "environmentId", "parameterOverrides"):
        if optional in body:
            record[optional] = body[optional]
    record["connectionPool"] = body.get("connectionPool", "none")
    return fill_postgres(record, body["ownerId"])


def _shared_password(ctx, record: dict) -> str:
    """A cluster role is global, so databases created with the same databaseUser share its password."""
    with ctx.store.lock:
        for other in ctx.store.data["postgres"]:
            if other is not record and other["databaseUser"] == record["databaseUser"]:
                record[PRIVATE]["password"] = other[PRIVATE]["password"]
                break
    return record[PRIVATE]["password"]


def _check_patch(record: dict, body: dict) -> None:
    want_type(body, "diskSizeGB", int, "postgres")
    if "plan" in body:
        check_upgrade(record["plan"], body["plan"])
    if "diskSizeGB" in body and body["diskSizeGB"] < record.get("diskSizeGB", 0):
        raise ApiError(400, f"diskSizeGB can only be increased: {record.get('diskSizeGB')} -> {body['diskSizeGB']}")
    plan = body.get("plan", record["plan"])
    _check_high_availability(plan, record["version"], body.get("enableHighAvailability",
                                                                record["highAvailabilityEnabled"]))
    if len(body.get("readReplicas") or []) > 5:
        raise ApiError(400, "at most 5 read replicas are allowed")


def _apply_patch(ctx, record: dict, body: dict) -> None:
    now = ctx.clock()
    plan_changed = "plan" in body and body["plan"] != record["plan"]
    for field in ("name", "plan", "diskSizeGB", "connectionPool", "parameterOverrides"):
        if field in body:
            record[field] = body[field]
    if "enableHighAvailability" in body:
        record["highAvailabilityEnabled"] = bool(body["enableHighAvailability"])
    if "enableDiskAutoscaling" in body:
        record["diskAutoscalingEnabled"] = bool(body["enableDiskAutoscaling"])
    if "ipAllowList" in body:
        record["ipAllowList"] = body["ipAllowList"] or []
    if "readReplicas" in body:
        known = {r["name"]: r for r in record["readReplicas"]}
        record["readReplicas"] = [known.get(r["name"], {"id": new_id("dpg-", "-b"), "name": r["name"]})
                                  for r in body["readReplicas"] or []]
    if plan_changed:
        # Observed: after a plan change the database goes back to `creating` before it is available again.
        record["status"] = "creating"
        record[PRIVATE]["readyAt"] = now + ctx.postgres_ready_after
    if record["plan"] != "free":
        record.pop("expiresAt", None)
    record["updatedAt"] = now_iso(now)


def _check_high_availability(plan: str, version: str, enabled: bool) -> None:
    if enabled and (not plan.startswith(ENTERPRISE_PREFIXES) or int(version) < 13):
        raise ApiError(400, "high availability needs a pro_* or accelerated_* plan and PostgreSQL 13 or later")


def _set_suspended(ctx, postgres_id: str, suspend: bool):
    with ctx.store.lock:
        record = ctx.store.postgres(postgres_id)
        if record["status"] in ("creating", "unknown"):
            raise ApiError(400, f"postgres {postgres_id} is still being created")
        record["suspended"] = "suspended" if suspend else "not_suspended"
        record["suspenders"] = ["user"] if suspend else []
        record["status"] = "suspended" if suspend else "available"
        record["updatedAt"] = now_iso(ctx.clock())
        dbname = record["databaseName"]
    if ctx.pg is not None:
        ctx.pg.set_connectable(dbname, not suspend)
    return json_reply(202)



def resolve_env_links(ctx) -> None:
    """Turn seeded ``{key, fromDatabase: {id, property}}`` env vars into values, once, at load time.

    ``property`` is a connection-info field (``internalConnectionString`` by default;
    ``connectionString`` is accepted as Render blueprints spell it).
    """
    with ctx.store.lock:
        for service in ctx.store.data["services"]:
            for entry in service["envVars"]:
                link = entry.pop("fromDatabase", None)
                if link is None:
                    continue
                prop = link.get("property", "internalConnectionString")
                prop = "internalConnectionString" if prop == "connectionString" else prop
                info = connection_strings(ctx, ctx.store.postgres(link["id"]))
                if prop not in info:
                    raise ValueError(f"service {service['id']} env var {entry['key']}: unknown property {prop!r}")
                entry["value"] = info[prop]
