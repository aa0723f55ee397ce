"""Secrets in the local engine: the values it has seen (scrubbed from every message) and the SDK's wire wrapping."""

from __future__ import annotations

import threading
from typing import Any, Iterable, Mapping

from pulumi.runtime import rpc

from migrate.redact import redact, url_secrets


class Secrets:
    """Every secret value the engine has seen (and the passwords inside secret URLs), to scrub from messages."""

    def __init__(self, values: Iterable[str] = ()):
        self._values: set[str] = set()
        self._lock = threading.Lock()
        for value in values:
            self.add(value)

    def add(self, value: Any) -> None:
        if isinstance(value, Mapping):
            for item in value.values():
                self.add(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                self.add(item)
        elif isinstance(value, str) and len(value) >= 4:
            with self._lock:
                self._values |= {value} | url_secrets(value)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = set(self._values)
        return redact(text, values, mask="[secret]")


def reveal(value: Any, secrets: Secrets) -> Any:
    """``value`` with every wrapped secret unwrapped (deeply); each secret found is added to ``secrets``."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            inner = reveal(value.get("value"), secrets)
            secrets.add(inner)
            return inner
        return {key: reveal(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item, secrets) for item in value]
    return value


def is_secret(value: Any) -> bool:
    """True if ``value`` is, or holds anywhere inside it, a wrapped secret."""
    if isinstance(value, dict):
        return value.get(rpc._special_sig_key) == rpc._special_secret_sig or any(map(is_secret, value.values()))
    return isinstance(value, list) and any(map(is_secret, value))


def as_secret(value: Any) -> dict:
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}
