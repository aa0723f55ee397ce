"""ServiceDeploy: one deploy of a Render service, triggered when its triggers change and awaited until live."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Any, Optional
from urllib.parse import quote

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from infra.render._provider import ProviderError, RenderProvider, is_unknown, pick
from infra.render.client import RenderClient
from infra.render.errors import RenderNotFound

INPUTS = ("service_id", "triggers", "clear_cache")
OUTPUTS = ("deploy_id", "previous_deploy_id", "status", "dashboard_url")
# Statuses after which a deploy never becomes live ("deactivated": superseded by a newer deploy first).
FAILED = ("build_failed", "pre_deploy_failed", "update_failed", "canceled", "deactivated")
_RECENT = 20  # deploys listed before a POST, to tell the new one apart afterwards


class DeployProvider(RenderProvider):
    """Triggers one deploy (``POST /services/{id}/deploys``) and waits until it is ``live``.

    A change of ``triggers`` (or of the service) is a **replacement**: a new deploy is a new thing with a new
    id, and the preview says so. ``previous_deploy_id`` is the deploy that was live before: what a rollback
    returns to. Render answers 201 with the deploy or 202 without one (queued); then, as after a lost reply
    (POST is never retried), the new deploy is found by listing. ``delete`` does nothing: a deploy cannot be
    undone by deleting it; roll back by re-deploying the old inputs (or Render's rollback to
    ``previous_deploy_id``).
    """

    timeout = 30 * 60.0  # a Next.js build and start; Render allows a build up to 2 h, so raise it if needed
    find_timeout = 60.0  # how long a queued (202) deploy may take to show up in the list

    def check(self, olds: dict, news: dict) -> CheckResult:
        """Require a service id; ``clear_cache`` defaults to false. No API calls."""
        inputs = {**news, "clear_cache": bool(news.get("clear_cache") or False)}
        service = news.get("service_id")
        failures = []
        if not is_unknown(service) and (not isinstance(service, str) or not service.strip()):
            failures.append(CheckFailure("service_id", "service_id is required (a non-empty string)"))
        return CheckResult(inputs, failures)

    def diff(self, id_: str, olds: dict, news: dict) -> DiffResult:
        """New triggers or another service replace the deploy (a new one is made); nothing else matters."""
        replaces = [f for f in ("service_id", "triggers") if is_unknown(news.get(f)) or news.get(f) != olds.get(f)]
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def create(self, props: dict) -> CreateResult:
        """Deploy, wait until live, return ``deploy_id`` and ``previous_deploy_id``.

        :raises StatusFailed: with Render's status and the deploy's dashboard URL when it fails.
        :raises WaitTimeout: when it is not live within ``timeout``.
        """
        inputs = pick(props, INPUTS)
        service = inputs["service_id"]
        with self._client() as client:
            try:
                service_url = client.get(_path(service))["dashboardUrl"]
            except RenderNotFound:
                raise ProviderError(f"cannot deploy service {service}: no such service for this API key") from None
            previous = _live_deploy(client, service)
            deploy_id = self._trigger(client, service, bool(inputs["clear_cache"]))["id"]
            url = f"{service_url}/deploys/{deploy_id}"
            deploy = self._wait_for(f"deploy {deploy_id} of service {service}",
                                    lambda: client.get(_path(service, deploy_id)),
                                    goal="live", failed=FAILED, timeout=self.timeout, url=url)
        outs = {**inputs, "deploy_id": deploy_id, "previous_deploy_id": previous, "status": deploy["status"],
                "dashboard_url": url}
        return CreateResult(deploy_id, outs)

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        """Never deploys (diff makes every deploying change a replacement); keeps the outputs."""
        return UpdateResult({**pick(olds, OUTPUTS), **pick(news, INPUTS)})

    def delete(self, id_: str, props: dict) -> None:
        """Does nothing to Render: a deploy cannot be undone by deleting it."""

    def read(self, id_: str, props: dict) -> ReadResult:
        """One GET of the deploy: its current status (``deactivated`` once a newer one is live); blank id on 404."""
        with self._client() as client:
            try:
                deploy = client.get(_path(props["service_id"], id_))
            except RenderNotFound:
                return ReadResult("", {})
        return ReadResult(id_, {**pick(props, INPUTS), **pick(props, OUTPUTS), "status": deploy.get("status")})

    def _trigger(self, client: RenderClient, service: str, clear_cache: bool) -> dict:
        """POST the deploy and return it; a 202 or a lost reply is resolved by finding the new deploy."""
        before = {d["id"] for d in _recent(client, service)}
        body = {"clearCache": "clear" if clear_cache else "do_not_clear"}
        created = self._post_create(client, _path(service) + "/deploys", body,
                                    lambda: self._new_deploy(client, service, before))
        if isinstance(created, dict) and created.get("id"):
            return created
        found = self._new_deploy(client, service, before)
        if found is None:
            raise ProviderError(f"Render accepted a deploy of service {service} (202) but none appeared within "
                                f"{self.find_timeout:g}s; look at the service's deploys in the dashboard")
        return found

    def _new_deploy(self, client: RenderClient, service: str, before: set[str]) -> dict | None:
        """The newest API-triggered deploy that was not there before the POST, polled for ``find_timeout``."""
        deadline = self.clock() + self.find_timeout
        while True:
            fresh = [d for d in _recent(client, service) if d["id"] not in before and d.get("trigger") in (None, "api")]
            if fresh:
                return max(fresh, key=lambda d: d.get("createdAt") or "")
            if self.clock() >= deadline:
                return None
            self.sleep(min(self.poll_first, max(0.0, deadline - self.clock())))


def _path(service: str, deploy: str | None = None) -> str:
    path = f"/services/{quote(service, safe='')}"
    return f"{path}/deploys/{quote(deploy, safe='')}" if deploy else path


def _recent(client: RenderClient, service: str) -> list[dict]:
    # One page is enough: a deploy made seconds ago is among the newest; the list order is not promised.
    return list(islice(client.iter_items(_path(service) + "/deploys", "deploy", limit=_RECENT), _RECENT))


def _live_deploy(client: RenderClient, service: str) -> Optional[str]:
    """The id of the deploy that is live now (the newest, should there be several), or ``None``."""
    live = list(client.iter_items(_path(service) + "/deploys", "deploy", status=["live"]))
    return max(live, key=lambda d: d.get("createdAt") or "")["id"] if live else None


@dataclass
class ServiceDeployArgs:
    """Inputs of a ServiceDeploy. ``triggers``: any JSON value; a change deploys again (e.g. a hash of the
    env var values the deploy must pick up)."""

    service_id: pulumi.Input[str]
    triggers: Any = None
    clear_cache: bool = False


class ServiceDeploy(Resource, module="render", name="ServiceDeploy"):
    """One deploy of a service, live when created. Deleting it does nothing to Render (a deploy cannot be
    undone); changing ``triggers`` replaces it, which deploys again.

    Outputs: the inputs, ``deploy_id``, ``previous_deploy_id`` (live before; ``None`` if none was),
    ``status`` and ``dashboard_url``.
    """

    deploy_id: pulumi.Output[str]
    previous_deploy_id: pulumi.Output[Optional[str]]
    status: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]

    def __init__(self, resource_name: str, args: ServiceDeployArgs, opts: Optional[pulumi.ResourceOptions] = None):
        props: dict[str, Any] = {"service_id": args.service_id, "triggers": args.triggers,
                                 "clear_cache": args.clear_cache}
        props.update({name: None for name in OUTPUTS})
        super().__init__(DeployProvider(), resource_name, props, opts)
