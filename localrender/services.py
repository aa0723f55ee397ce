"""``/v1/services``: list, get and PATCH (including ``serviceDetails.maintenanceMode``) of seeded services."""

from __future__ import annotations

from .paging import filter_in, filter_time, page
from .replies import ApiError, check_fields, json_object, json_reply, now_iso, want_type
from .seed import PRIVATE

_HIDDEN = {PRIVATE, "envVars", "deploys"}
_PATCH_FIELDS = {"name", "autoDeploy", "autoDeployTrigger", "branch", "repo", "image", "rootDir", "buildFilter",
                 "serviceDetails"}
_DETAIL_FIELDS = {"envSpecificDetails", "healthCheckPath", "maintenanceMode", "plan", "preDeployCommand",
                  "pullRequestPreviewsEnabled", "previews", "runtime", "maxShutdownDelaySeconds",
                  "renderSubdomainPolicy", "cache"}
_WEB_ONLY = {"maintenanceMode", "healthCheckPath", "renderSubdomainPolicy", "cache"}
_PAID_PLANS = ("starter", "standard", "pro", "pro_plus", "pro_max", "pro_ultra")
_RUNTIMES = ("docker", "elixir", "go", "node", "python", "ruby", "rust", "image")


def render(record: dict) -> dict:
    """Render's ``service`` object (env vars, deploys and local settings are not part of it)."""
    return {k: v for k, v in record.items() if k not in _HIDDEN}


def list_services(ctx, request):
    args = request.args
    with ctx.store.lock:
        items = ctx.store.data["services"]
        for param, value in (("name", lambda s: s["name"]), ("type", lambda s: s["type"]),
                             ("region", lambda s: s["serviceDetails"].get("region", "")),
                             ("suspended", lambda s: s["suspended"]), ("ownerId", lambda s: s["ownerId"]),
                             ("environmentId", lambda s: s.get("environmentId", ""))):
            items = filter_in(args, items, param, value)
        items = filter_time(args, filter_time(args, items, "createdAt", "created"), "updatedAt", "updated")
        body = page(args, "service", items, lambda s: [s["createdAt"], s["id"]], render)
    return json_reply(200, body)


def get_service(ctx, request, service_id: str):
    with ctx.store.lock:
        return json_reply(200, render(ctx.store.service(service_id)))


def patch_service(ctx, request, service_id: str):
    """Change settings in place; like Render, running code only picks them up with the next deploy."""
    body = json_object(request)
    check_fields(body, _PATCH_FIELDS, "service update")
    for field in ("name", "branch", "repo", "rootDir"):
        want_type(body, field, str, "service")
    if body.get("autoDeploy", "yes") not in ("yes", "no"):
        raise ApiError(400, f"invalid autoDeploy: {body['autoDeploy']!r} (expected \"yes\" or \"no\")")
    image = body.get("image", {"imagePath": ""})
    if not isinstance(image, dict) or not isinstance(image.get("imagePath"), str):
        raise ApiError(400, "image must be an object with imagePath and ownerId")
    with ctx.store.lock:
        record = ctx.store.service(service_id)
        details = _checked_details(record, body.get("serviceDetails"))
        if "name" in body:
            _check_unique_name(ctx, record, body["name"])
        for field in _PATCH_FIELDS - {"serviceDetails", "image"}:
            if field in body:
                record[field] = body[field]
        if "image" in body:
            record["imagePath"] = body["image"]["imagePath"]
        _merge(record["serviceDetails"], details)
        record["updatedAt"] = now_iso(ctx.clock())
        return json_reply(200, render(record))


def _checked_details(record: dict, details) -> dict:
    if details is None:
        return {}
    if not isinstance(details, dict):
        raise ApiError(400, "serviceDetails must be an object")
    check_fields(details, _DETAIL_FIELDS, "serviceDetails")
    if record["type"] != "web_service" and _WEB_ONLY & set(details):
        raise ApiError(400, f"{sorted(_WEB_ONLY & set(details))[0]} is only available for web services")
    if "maintenanceMode" in details:
        mode = details["maintenanceMode"]
        if not isinstance(mode, dict) or set(mode) != {"enabled", "uri"}:
            raise ApiError(400, "maintenanceMode needs exactly the fields enabled and uri")
        if not isinstance(mode["enabled"], bool) or not isinstance(mode["uri"], str):
            raise ApiError(400, "maintenanceMode.enabled must be a boolean and maintenanceMode.uri a string")
    if details.get("plan", "starter") not in _PAID_PLANS:
        raise ApiError(400, f"invalid serviceDetails.plan: {details['plan']!r}")
    if details.get("runtime", "node") not in _RUNTIMES:
        raise ApiError(400, f"invalid serviceDetails.runtime: {details['runtime']!r}")
    if not isinstance(details.get("envSpecificDetails", {}), dict):
        raise ApiError(400, "serviceDetails.envSpecificDetails must be an object")
    seconds = details.get("maxShutdownDelaySeconds")
    if seconds is not None and (not isinstance(seconds, int) or not 1 <= seconds <= 300):
        raise ApiError(400, f"maxShutdownDelaySeconds must be between 1 and 300, got {seconds!r}")
    return details


def _merge(current: dict, changes: dict) -> None:
    """PATCH semantics one level down: ``envSpecificDetails: {startCommand}`` keeps ``buildCommand``."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict) and key != "maintenanceMode":
            current[key] = {**current[key], **value}
        else:
            current[key] = value


def _check_unique_name(ctx, record: dict, name: str) -> None:
    for other in ctx.store.data["services"]:
        if other is not record and other["ownerId"] == record["ownerId"] and other["name"] == name:
            raise ApiError(409, f"a service named {name!r} already exists in workspace {record['ownerId']}")
