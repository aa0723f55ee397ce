"""Fixtures for the provider tests: providers after the dill round trip, configured for localrender; a request spy."""

from __future__ import annotations

import base64
import time
from typing import Callable, Iterator
from urllib.parse import urlsplit

import dill
import pytest
import requests
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.dynamic.dynamic import serialize_provider

from infra.render._provider import RenderProvider
from infra.render.client import RenderClient

PROJECT = "cutover"


def loaded(provider: RenderProvider) -> RenderProvider:
    """The provider as the Pulumi provider process gets it: serialized into the state, then loaded."""
    return dill.loads(base64.b64decode(serialize_provider(provider)))


def short_sleep(seconds: float) -> None:
    """Real sleeps (localrender's lifecycles run on the wall clock), at most 20 ms: retry waits shrink too."""
    time.sleep(min(seconds, 0.02))


def _maker(server, key: str) -> Callable[..., RenderProvider]:
    def make(cls: type[RenderProvider], **attributes) -> RenderProvider:
        provider = loaded(cls())
        config = {f"{PROJECT}:renderApiKey": key, f"{PROJECT}:renderApiUrl": server.base_url}
        provider.configure(ConfigureRequest(Config(config, PROJECT)))
        provider.poll_first, provider.poll_max, provider.sleep = 0.02, 0.1, short_sleep
        for name, value in attributes.items():
            setattr(provider, name, value)
        return provider

    return make


@pytest.fixture
def make_provider(localrender, render_key) -> Iterator[Callable[..., RenderProvider]]:
    """``make_provider(Cls, **attributes)``: round-tripped, configured from stack config for localrender.

    At teardown, every request the providers sent must have matched Render's OpenAPI document.
    """
    yield _maker(localrender, render_key)
    assert localrender.request_violations == []


@pytest.fixture
def make_provider_pg(localrender_pg, render_key) -> Iterator[Callable[..., RenderProvider]]:
    """Like ``make_provider``, against localrender in real-database mode."""
    yield _maker(localrender_pg, render_key)
    assert localrender_pg.request_violations == []


@pytest.fixture
def api(localrender, render_key) -> Iterator[RenderClient]:
    """A client of the test's own, to arrange and inspect localrender over HTTP."""
    with RenderClient(render_key, localrender.base_url, sleep=short_sleep) as client:
        yield client


class RequestSpy:
    """Every HTTP request any client sends, as ``(method, path)`` (the query left out)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def count(self, method: str | None = None) -> int:
        return sum(1 for m, _ in self.calls if method in (None, m))

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def spy(monkeypatch) -> RequestSpy:
    """Counts requests at the lowest seam (``requests.Session.send``), so retries count too."""
    recorder = RequestSpy()
    real_send = requests.Session.send

    def send(self, request, **kwargs):
        recorder.calls.append((request.method, urlsplit(request.url).path))
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    return recorder
