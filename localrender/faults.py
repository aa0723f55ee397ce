"""Fault injection: the Nth or a share of matching requests gets an error, latency, a lost reply or a stuck create."""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import asdict, dataclass, field

ERROR_STATUSES = (429, 500, 503)
LOSE_MODES = ("close", "500", "timeout")
DEPLOY_FAILURES = ("build_failed", "pre_deploy_failed", "update_failed")


@dataclass
class Fault:
    """One rule. Matching: ``method`` and ``path`` (a glob such as ``/v1/postgres*``; None matches all).

    Triggering: ``nth`` fires from the Nth matching request on (1-based), ``share`` fires on that fraction
    of matching requests, neither fires on every match; ``times`` caps how often it fires (``nth`` alone
    defaults to once). Actions: ``status`` (429/500/503, with ``retry_after`` seconds on 429),
    ``latency`` seconds, ``lose_reply`` (``close``: the connection is dropped after the resource was
    made; ``500``: a 500 after it was made; ``timeout``: no reply for ``hold`` seconds, then a drop) and
    ``stuck_creating`` (a Postgres created now stays in ``creating``) and ``deploy_failure`` (a deploy
    created now ends in ``build_failed``, ``pre_deploy_failed`` or ``update_failed``).
    """

    status: int | None = None
    latency: float = 0.0
    lose_reply: str | None = None
    stuck_creating: bool = False
    deploy_failure: str | None = None
    method: str | None = None
    path: str | None = None
    nth: int | None = None
    share: float | None = None
    times: int | None = None
    retry_after: int = 1
    hold: float = 10.0
    seen: int = field(default=0)
    fired: int = field(default=0)

    def __post_init__(self):
        if self.status is not None and self.status not in ERROR_STATUSES:
            raise ValueError(f"fault status must be one of {ERROR_STATUSES}, got {self.status}")
        if self.lose_reply is not None and self.lose_reply not in LOSE_MODES:
            raise ValueError(f"fault lose_reply must be one of {LOSE_MODES}, got {self.lose_reply!r}")
        if self.share is not None and not 0.0 <= self.share <= 1.0:
            raise ValueError(f"fault share must be between 0 and 1, got {self.share}")
        if self.nth is not None and self.nth < 1:
            raise ValueError(f"fault nth counts from 1, got {self.nth}")
        if self.deploy_failure is not None and self.deploy_failure not in DEPLOY_FAILURES:
            raise ValueError(f"fault deploy_failure must be one of {DEPLOY_FAILURES}, got {self.deploy_failure!r}")
        actions = (self.status, self.latency or None, self.lose_reply, self.stuck_creating or None, self.deploy_failure)
        if all(action is None for action in actions):
            raise ValueError("a fault needs an action: status, latency, lose_reply, stuck_creating or deploy_failure")
        if self.method:
            self.method = self.method.upper()
        if self.times is None and self.nth is not None:
            self.times = 1

    def matches(self, method: str, path: str) -> bool:
        return (self.method in (None, method)) and (self.path is None or fnmatch.fnmatchcase(path, self.path))


@dataclass
class Decision:
    """What the faults decided for one request."""

    latency: float = 0.0
    status: int | None = None
    retry_after: int = 1
    lose_reply: str | None = None
    hold: float = 10.0
    stuck_creating: bool = False
    deploy_failure: str | None = None


class Faults:
    """The active fault rules; thread-safe. ``seed`` makes ``share`` rules reproducible."""

    def __init__(self, seed: int = 0):
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._rng = random.Random(seed)

    def add(self, **spec) -> Fault:
        """Add a rule from keyword arguments (the fields of :class:`Fault`); raises ValueError on bad ones."""
        unknown = set(spec) - {f for f in Fault.__dataclass_fields__ if f not in ("seen", "fired")}
        if unknown:
            raise ValueError(f"unknown fault option: {sorted(unknown)[0]}")
        rule = Fault(**spec)
        with self._lock:
            self._rules.append(rule)
        return rule

    def fail(self, status: int, **match) -> Fault:
        return self.add(status=status, **match)

    def delay(self, seconds: float, **match) -> Fault:
        return self.add(latency=seconds, **match)

    def lose_reply(self, mode: str = "close", method: str = "POST", path: str = "/v1/postgres", times: int = 1,
                   **match) -> Fault:
        return self.add(lose_reply=mode, method=method, path=path, times=times, **match)

    def stuck_creating(self, times: int = 1, **match) -> Fault:
        return self.add(stuck_creating=True, method="POST", path="/v1/postgres", times=times, **match)

    def fail_deploy(self, status: str = "build_failed", service_id: str = "*", times: int = 1) -> Fault:
        """The next deploy(s) created by ``POST /v1/services/<id>/deploys`` end in ``status``."""
        return self.add(deploy_failure=status, method="POST", path=f"/v1/services/{service_id}/deploys", times=times)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def list(self) -> list[dict]:
        with self._lock:
            return [asdict(rule) for rule in self._rules]

    def decide(self, method: str, path: str) -> Decision:
        """Count this request against every matching rule and combine the ones that fire."""
        decision = Decision()
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path) and self._fires(rule):
                    _apply(rule, decision)
        return decision

    def _fires(self, rule: Fault) -> bool:
        rule.seen += 1
        if rule.times is not None and rule.fired >= rule.times:
            return False
        if rule.nth is not None and rule.seen < rule.nth:
            return False
        if rule.share is not None and self._rng.random() >= rule.share:
            return False
        rule.fired += 1
        return True


def _apply(rule: Fault, decision: Decision) -> None:
    decision.latency += rule.latency
    if rule.status is not None and decision.status is None:
        decision.status, decision.retry_after = rule.status, rule.retry_after
    if rule.lose_reply is not None and decision.lose_reply is None:
        decision.lose_reply, decision.hold = rule.lose_reply, rule.hold
    decision.stuck_creating = decision.stuck_creating or rule.stuck_creating
    decision.deploy_failure = decision.deploy_failure or rule.deploy_failure


_INTS, _FLOATS = {"status", "nth", "times", "retry_after"}, {"latency", "share", "hold"}


def parse_spec(text: str) -> dict:
    """``"status=429,nth=3,path=/v1/postgres*"`` -> keyword arguments for :meth:`Faults.add`."""
    spec: dict = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"fault option {part!r} is not name=value")
        if name in _INTS:
            spec[name] = int(value)
        elif name in _FLOATS:
            spec[name] = float(value)
        elif name == "stuck_creating":
            spec[name] = value.lower() in ("1", "true", "yes")
        else:
            spec[name] = value
    return spec
