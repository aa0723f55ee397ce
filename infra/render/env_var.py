"""ServiceEnvVar: one environment variable on one Render service; it can give the key back its previous value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import quote

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from infra.render._provider import ProviderError, RenderProvider, is_unknown, pick
from infra.render.client import RenderClient
from infra.render.errors import RenderNotFound

INPUTS = ("service_id", "key", "value", "restore_previous")
OUTPUTS = ("previous_value", "had_previous")
SECRET_OUTPUTS = ["value", "previous_value"]


class EnvVarProvider(RenderProvider):
    """CRUD for one key through the per-key endpoints only.

    ``PUT /services/{id}/env-vars`` (the bulk form) replaces every variable of the service, so it is never used:
    no other key is ever read or written. ``create`` records the value it finds (or that there was none) in
    the secret outputs ``previous_value``/``had_previous``, which no later update overwrites.

    Two modes, switched by an *update* (never a replacement, so a config revert applies at once, in program
    order, instead of at the end of the ``up`` as a delete would):

    - ``restore_previous`` false: the key holds ``value``.
    - ``restore_previous`` true: the key holds the recorded previous value (or is absent if there was none);
      ``value`` is left out. A create in this mode only records, it changes nothing.

    The output ``value`` is what the key holds afterwards, in both modes. ``delete`` puts the previous value
    back or removes the key. Env var writes do not redeploy: pair this resource with a ServiceDeploy whose
    triggers include a digest of the output ``value``. Values never appear in messages.
    """

    def check(self, olds: dict, news: dict) -> CheckResult:
        """Require a service id and a key, and either a string value or ``restore_previous`` (then no value);
        ``restore_previous`` defaults to false. No API calls."""
        inputs = {**news, "restore_previous": False if news.get("restore_previous") is None
                  else news.get("restore_previous")}
        failures = []
        for field in ("service_id", "key"):
            value = inputs.get(field)
            if not is_unknown(value) and (not isinstance(value, str) or not value.strip()):
                failures.append(CheckFailure(field, f"{field} is required (a non-empty string)"))
        restore, value = inputs["restore_previous"], inputs.get("value")
        if not is_unknown(restore) and not isinstance(restore, bool):
            failures.append(CheckFailure("restore_previous", f"restore_previous must be true or false, "
                                                             f"got {type(restore).__name__}"))
        elif restore is True and value is not None:
            failures.append(CheckFailure("value", "value must be left out when restore_previous is true (the key "
                                                  "gets back the value it held before this resource set it)"))
        elif restore is False and not is_unknown(value) and not isinstance(value, str):
            # The type only: the value itself is a secret.
            failures.append(CheckFailure("value", f"value must be a string, got {type(value).__name__}"))
        return CheckResult(inputs, failures)

    def diff(self, id_: str, olds: dict, news: dict) -> DiffResult:
        """Another service or key is another variable (replace); a new value, a switch of ``restore_previous``
        (either way) or a restored key that drifted is an update. No API calls."""
        replaces = [f for f in ("service_id", "key") if is_unknown(news.get(f)) or news.get(f) != olds.get(f)]
        restore = news.get("restore_previous")
        if is_unknown(restore) or bool(restore) != bool(olds.get("restore_previous")):
            changed = True
        elif restore:
            changed = olds.get("value") != _restored(olds)  # a refresh saw another value on the key
        else:
            changed = is_unknown(news.get("value")) or news.get("value") != olds.get("value")
        return DiffResult(changes=bool(replaces) or changed, replaces=replaces, delete_before_replace=False)

    def create(self, props: dict) -> CreateResult:
        """Record the current value (if any), then PUT the new one (``restore_previous``: change nothing)."""
        inputs = pick(props, INPUTS)
        with self._client() as client:
            previous = _current(client, inputs["service_id"], inputs["key"])
            if not inputs["restore_previous"]:
                _put(client, inputs["service_id"], inputs["key"], inputs["value"])
        recorded = {"previous_value": previous, "had_previous": previous is not None}
        outs = {**inputs, **recorded, "value": previous if inputs["restore_previous"] else inputs["value"]}
        return CreateResult(_id(inputs), outs)

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        """PUT the new value, or give the key back its recorded previous value (removing it if there was none);
        the recorded previous value stays the one from before this resource first set the key."""
        inputs, recorded = pick(news, INPUTS), pick(olds, OUTPUTS)
        service, key = inputs["service_id"], inputs["key"]
        with self._client() as client:
            if not inputs["restore_previous"]:
                _put(client, service, key, inputs["value"])
            else:
                _restore(client, service, key, recorded)
        value = _restored(recorded) if inputs["restore_previous"] else inputs["value"]
        return UpdateResult({**inputs, **recorded, "value": value})

    def delete(self, id_: str, props: dict) -> None:
        """Put the recorded previous value back, or remove the key if there was none; a gone service is done."""
        with self._client() as client:
            _restore(client, props["service_id"], props["key"], props)

    def read(self, id_: str, props: dict) -> ReadResult:
        """One GET of the key: the live value (a drifted value then shows as an update); a blank id when the key
        (or the service) is gone, unless the key is meant to be absent (restored to "none")."""
        with self._client() as client:
            live = _current(client, props["service_id"], props["key"])
        if live is None and not (props.get("restore_previous") and not props.get("had_previous")):
            return ReadResult("", {})
        # No refreshed inputs: they would hold the value without the secret marking that outputs get.
        return ReadResult(id_, {**pick(props, INPUTS), **pick(props, OUTPUTS), "value": live})


def _restored(recorded: dict) -> Optional[str]:
    """What the key holds once given back: the recorded previous value, or ``None`` (absent)."""
    return (recorded.get("previous_value") or "") if recorded.get("had_previous") else None


def _restore(client: RenderClient, service: str, key: str, recorded: dict) -> None:
    """Give the key back the value recorded at create, or remove it if it had none (an absent key is done)."""
    if recorded.get("had_previous"):
        _put(client, service, key, recorded.get("previous_value") or "")
        return
    try:
        client.delete(_path(service, key))
    except RenderNotFound:
        pass


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
    """Inputs of a ServiceEnvVar; pass ``value`` as a secret (``pulumi.Output.secret``). With
    ``restore_previous`` true, leave ``value`` out: the key gets back what it held before this resource set it."""

    service_id: pulumi.Input[str]
    key: pulumi.Input[str]
    value: Optional[pulumi.Input[str]] = None
    restore_previous: pulumi.Input[bool] = False


class ServiceEnvVar(Resource, module="render", name="ServiceEnvVar"):
    """One variable on one service. ``value`` and ``previous_value`` are always secret outputs.

    Outputs: ``service_id``, ``key``, ``restore_previous``, ``value`` (what the key holds now; ``None`` if it is
    absent), ``previous_value`` (the value found at create, or ``None``) and ``had_previous``.
    """

    service_id: pulumi.Output[str]
    key: pulumi.Output[str]
    value: pulumi.Output[str]
    previous_value: pulumi.Output[Optional[str]]
    had_previous: pulumi.Output[bool]

    def __init__(self, resource_name: str, args: ServiceEnvVarArgs,
                 opts: Optional[pulumi.ResourceOptions] = None):
        props: dict[str, Any] = {"service_id": args.service_id, "key": args.key, "value": args.value,
                                 "restore_previous": args.restore_previous}
        props.update({name: None for name in OUTPUTS})
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS))
        super().__init__(EnvVarProvider(), resource_name, props, opts)
