"""MaintenanceMode: a Render web service's maintenance page, on while the resource exists (off when deleted)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from infra.render._provider import ProviderError, RenderProvider, is_unknown, pick
from infra.render.client import RenderClient
from infra.render.errors import RenderNotFound

INPUTS = ("service_id", "enabled", "uri", "triggers")


class MaintenanceProvider(RenderProvider):
    """Sets ``serviceDetails.maintenanceMode {enabled, uri}`` with ``PATCH /services/{id}``.

    Web services only. An empty ``uri`` serves Render's default page. ``delete`` turns the page off (and a gone
    service counts as done). Render applies it without a deploy. A change of ``triggers`` sets the page again
    (an update, never a replacement: replacing would create the new page, then delete the old one, i.e. off).
    """

    def check(self, olds: dict, news: dict) -> CheckResult:
        """Require a service id; ``enabled`` defaults to true and ``uri`` to Render's page. No API calls."""
        inputs = {**news, "enabled": True if news.get("enabled") is None else news.get("enabled"),
                  "uri": news.get("uri") or "", "triggers": news.get("triggers")}
        failures = []
        service = inputs.get("service_id")
        if not is_unknown(service) and (not isinstance(service, str) or not service.strip()):
            failures.append(CheckFailure("service_id", "service_id is required (a non-empty string)"))
        if not is_unknown(inputs["enabled"]) and not isinstance(inputs["enabled"], bool):
            failures.append(CheckFailure("enabled", f"enabled must be true or false, got {inputs['enabled']!r}"))
        if not is_unknown(inputs["uri"]) and not isinstance(inputs["uri"], str):
            failures.append(CheckFailure("uri", f"uri must be a string, got {type(inputs['uri']).__name__}"))
        return CheckResult(inputs, failures)

    def diff(self, id_: str, olds: dict, news: dict) -> DiffResult:
        """Another service is a replacement; ``enabled``/``uri`` are updates. No API calls."""
        def changed(field: str) -> bool:
            return is_unknown(news.get(field)) or news.get(field) != olds.get(field)

        replaces = ["service_id"] if changed("service_id") else []
        updates = [f for f in ("enabled", "uri", "triggers") if changed(f)]
        return DiffResult(changes=bool(replaces or updates), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict) -> CreateResult:
        """Set the maintenance page as declared."""
        inputs = pick(props, INPUTS)
        with self._client() as client:
            _set(client, inputs["service_id"], bool(inputs["enabled"]), inputs["uri"] or "")
        return CreateResult(f"{inputs['service_id']}/maintenance", inputs)

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        """Set the maintenance page as now declared."""
        inputs = pick(news, INPUTS)
        with self._client() as client:
            _set(client, inputs["service_id"], bool(inputs["enabled"]), inputs["uri"] or "")
        return UpdateResult(inputs)

    def delete(self, id_: str, props: dict) -> None:
        """Turn the maintenance page off; a gone service counts as done."""
        with self._client() as client:
            try:
                _set(client, props["service_id"], False, "")
            except RenderNotFound:
                pass

    def read(self, id_: str, props: dict) -> ReadResult:
        """One GET of the service: the live setting; a blank id when the service is gone."""
        with self._client() as client:
            try:
                service = client.get(_path(props["service_id"]))
            except RenderNotFound:
                return ReadResult("", {})
        mode = _mode(service)
        outs = {**pick(props, INPUTS), "enabled": bool(mode.get("enabled")), "uri": mode.get("uri") or ""}
        return ReadResult(id_, outs, outs)


def _path(service: str) -> str:
    return f"/services/{quote(service, safe='')}"


def _mode(service: Any) -> dict:
    return ((service or {}).get("serviceDetails") or {}).get("maintenanceMode") or {}


def _set(client: RenderClient, service: str, enabled: bool, uri: str) -> None:
    """PATCH the setting and confirm Render now reports it (it silently ignores it on non-web services)."""
    body = {"serviceDetails": {"maintenanceMode": {"enabled": enabled, "uri": uri}}}
    reply = client.patch(_path(service), json=body)
    if bool(_mode(reply).get("enabled")) != enabled:
        kind = (reply or {}).get("type", "unknown type")
        raise ProviderError(f"service {service} ({kind}) did not turn its maintenance page "
                            f"{'on' if enabled else 'off'}; only web services have one")


@dataclass
class MaintenanceModeArgs:
    """Inputs of a MaintenanceMode: the web service, whether the page is on, and which page (``""``: Render's).
    ``triggers``: any JSON value; a change sets the page again (e.g. on each new cutover window)."""

    service_id: pulumi.Input[str]
    enabled: pulumi.Input[bool] = True
    uri: pulumi.Input[str] = ""
    triggers: Any = None


class MaintenanceMode(Resource, module="render", name="MaintenanceMode"):
    """A web service's maintenance page while this resource exists; deleting it turns the page off.

    Outputs: ``service_id``, ``enabled``, ``uri``, ``triggers``.
    """

    service_id: pulumi.Output[str]
    enabled: pulumi.Output[bool]
    uri: pulumi.Output[str]

    def __init__(self, resource_name: str, args: MaintenanceModeArgs,
                 opts: Optional[pulumi.ResourceOptions] = None):
        props = {"service_id": args.service_id, "enabled": args.enabled, "uri": args.uri, "triggers": args.triggers}
        super().__init__(MaintenanceProvider(), resource_name, props, opts)
