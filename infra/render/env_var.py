"""ServiceEnvVar: one environment variable on one Render service, restored to its previous value on delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from infra.render._provider import ProviderError, RenderProvider, is_unknown, pick
from infra.render.client import RenderClient
from infra.render.errors import RenderNotFound

INPUTS = ("service_id", "key", "value")
OUTPUTS = ("previous_value", "had_previous")
SECRET_OUTPUTS = ["value", "previous_value"]


class EnvVarProvider(RenderProvider):
    """CRUD for one key through the per-key endpoints only.

    ``PUT /services/{id}/env-vars`` (the bulk form) replaces every variable of the service, so it is never used:
    no other key is ever read or written. ``create`` records the value it replaces (or that there was none) in
    the secret outputs ``previous_value``/``had_previous``; ``delete`` puts that value back or removes the key.
    Env var writes do not redeploy: pair this resource with a ServiceDeploy whose triggers include the value.
    Values never appear in messages.
    """

    def check(self, olds: dict, news: dict) -> CheckResult:
        """Require a service id, a key and a string value; no API calls."""
        failures = []
        for field in ("service_id", "key"):
            value = news.get(field)
            if not is_unknown(value) and (not isinstance(value, str) or not value.strip()):
                failures.append(CheckFailure(field, f"{field} is required (a non-empty string)"))
        value = news.get("value")
        if not is_unknown(value) and not isinstance(value, str):
            # The type only: the value itself is a secret.
            failures.append(CheckFailure("value", f"value must be a string, got {type(value).__name__}"))
        return CheckResult(dict(news), failures)

    def diff(self, id_: str, olds: dict, news: dict) -> DiffResult:
        """Another service or key is another variable (replace); a new value is an update. No API calls."""
        replaces = [f for f in ("service_id", "key") if is_unknown(news.get(f)) or news.get(f) != olds.get(f)]
        changed = is_unknown(news.get("value")) or news.get("value") != olds.get("value")
        return DiffResult(changes=bool(replaces) or changed, replaces=replaces, delete_before_replace=False)

    def create(self, props: dict) -> CreateResult:
        """Record the current value (if any), then PUT the new one."""
        inputs = pick(props, INPUTS)
        with self._client() as client:
            previous = _current(client, inputs["service_id"], inputs["key"])
            _put(client, inputs["service_id"], inputs["key"], inputs["value"])
        outs = {**inputs, "previous_value": previous, "had_previous": previous is not None}
        return CreateResult(_id(inputs), outs)

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        """PUT the new value; the recorded previous value stays the one from before this stack set it."""
        inputs = pick(news, INPUTS)
        with self._client() as client:
            _put(client, inputs["service_id"], inputs["key"], inputs["value"])
        return UpdateResult({**inputs, **pick(olds, OUTPUTS)})

    def delete(self, id_: str, props: dict) -> None:
        """Put the recorded previous value back, or remove the key if there was none; a gone service is done."""
        service, key = props["service_id"], props["key"]
        with self._client() as client:
            try:
                if props.get("had_previous"):
                    _put(client, service, key, props.get("previous_value") or "")
                else:
                    client.delete(_path(service, key))
            except RenderNotFound:
                pass

    def read(self, id_: str, props: dict) -> ReadResult:
        """One GET of the key: a blank id when the key (or the service) is gone, else the live value
        (a drifted value then shows as an update)."""
        with self._client() as client:
            live = _current(client, props["service_id"], props["key"])
        if live is None:
            return ReadResult("", {})
        # No refreshed inputs: they would hold the value without the secret marking that outputs get.
        return ReadResult(id_, {**pick(props, INPUTS), **pick(props, OUTPUTS), "value": live})


def _id(inputs: dict) -> str:
    return f"{inputs['service_id']}/{inputs['key']}"


def _path(service: str, key: str) -> str:
    return f"/services/{quote(service, safe='')}/env-vars/{quote(key, safe='')}"


def _current(client: RenderClient, service: str, key: str) -> Optional[str]:
    """The key's value on the service, or ``None`` if the key is not set there."""
    try:
        reply = client.get(_path(service, key))
    except RenderNotFound:
        return None
    return (reply or {}).get("value")


def _put(client: RenderClient, service: str, key: str, value: Any) -> None:
    try:
        reply = client.put(_path(service, key), json={"value": value})
    except RenderNotFound:
        raise ProviderError(f"cannot set {key} on service {service}: no such service for this API key") from None
    if (reply or {}).get("key") not in (None, key):
        raise ProviderError(f"setting {key} on service {service} returned key {reply.get('key')!r}")


@dataclass
class ServiceEnvVarArgs:
    """Inputs of a ServiceEnvVar; pass ``value`` as a secret (``pulumi.Output.secret``)."""

    service_id: pulumi.Input[str]
    key: pulumi.Input[str]
    value: pulumi.Input[str]


class ServiceEnvVar(Resource, module="render", name="ServiceEnvVar"):
    """One variable on one service. ``value`` and ``previous_value`` are always secret outputs.

    Outputs: ``service_id``, ``key``, ``value``, ``previous_value`` (the value this resource replaced, or
    ``None``) and ``had_previous``.
    """

    service_id: pulumi.Output[str]
    key: pulumi.Output[str]
    value: pulumi.Output[str]
    previous_value: pulumi.Output[Optional[str]]
    had_previous: pulumi.Output[bool]

    def __init__(self, resource_name: str, args: ServiceEnvVarArgs,
                 opts: Optional[pulumi.ResourceOptions] = None):
        props: dict[str, Any] = {"service_id": args.service_id, "key": args.key, "value": args.value}
        props.update({name: None for name in OUTPUTS})
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS))
        super().__init__(EnvVarProvider(), resource_name, props, opts)
