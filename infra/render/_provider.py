"""The shared base of the Render dynamic providers: credentials from configure(), a client per call, bounded waits."""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable, Mapping

from pulumi.dynamic import ConfigureRequest, ResourceProvider
from pulumi.runtime.rpc import UNKNOWN

from infra.render.client import RenderClient
from infra.render.errors import RenderConnectionError, RenderRateLimited, RenderServerError

KEY_CONFIG = "renderApiKey"
URL_CONFIG = "renderApiUrl"
KEY_ENV = "RENDER_API_KEY"
URL_ENV = "RENDER_API_URL"
PROVIDER_KEY = "__provider"
# Everything configure() stores: __getstate__ drops these, so even a configured provider pickles without them.
_CREDENTIALS = ("_api_key", "_base_url")


class ProviderError(Exception):
    """A provider step failed; the message is one self-contained line (Pulumi prints it as is) without secrets."""


class MissingApiKey(ProviderError):
    """No Render API key in the stack config nor in the environment."""


class WaitTimeout(ProviderError):
    """A resource did not reach the awaited status in time."""


class StatusFailed(ProviderError):
    """A resource reached a status from which the awaited one cannot follow (e.g. ``build_failed``)."""


def is_unknown(value: Any) -> bool:
    """True if ``value`` (or anything inside it) is not known yet: a preview of an output of another resource."""
    if isinstance(value, str):
        return value == UNKNOWN
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_unknown(v) for v in value)
    return False


def pick(props: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The ``keys`` of ``props`` (missing ones as ``None``), never the pickled provider."""
    return {key: props.get(key) for key in keys if key != PROVIDER_KEY}


class RenderProvider(ResourceProvider):
    """Base of every Render provider.

    The instance is pickled (by reference, dill) into the Pulumi state at construction, so it holds nothing
    there: the API key and base URL are read in ``configure()``, which Pulumi calls in the provider process
    right after unpickling, and a fresh ``RenderClient`` is built for every method call.
    Tests may override ``clock``, ``sleep`` and the ``poll_*`` attributes on an instance.
    """

    clock: Callable[[], float] = staticmethod(time.monotonic)
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    # Render's own Terraform provider polls from 3 s, growing x1.2 up to 15 s.
    poll_first = 3.0
    poll_factor = 1.2
    poll_max = 15.0
    request_timeout: Any = (5, 30)  # (connect, read) seconds for each HTTP request
    # A refused (429) create is tried this many times in all, waiting as the server asks (at most post_wait_max).
    post_attempts = 4
    post_wait_max = 60.0
    _api_key: str | None = None
    _base_url: str | None = None

    def configure(self, req: ConfigureRequest) -> None:
        """Read the API key (secret config ``renderApiKey``, else ``RENDER_API_KEY``) and the base URL
        (config ``renderApiUrl``, else ``RENDER_API_URL``, else Render's). A missing key is reported by the first
        method that needs the API, so a preview that only runs check/diff works without one."""
        self._api_key = req.config.get(KEY_CONFIG) or os.environ.get(KEY_ENV) or None
        self._base_url = req.config.get(URL_CONFIG) or os.environ.get(URL_ENV) or None

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in _CREDENTIALS}

    def _client(self) -> RenderClient:
        """A new client for one method call (close it: use ``with``).

        :raises MissingApiKey: when neither the stack config nor the environment holds a key.
        """
        if not self._api_key or not str(self._api_key).strip():
            raise MissingApiKey(f"no Render API key: run `pulumi config set --secret {KEY_CONFIG} <key>` "
                                f"for this stack or export {KEY_ENV}")
        return RenderClient(str(self._api_key), self._base_url, timeout=self.request_timeout,
                            sleep=self.sleep)

    def _wait_for(self, what: str, fetch: Callable[[], dict], *, goal: str, failed: Iterable[str],
                  timeout: float, url: str | None = None) -> dict:
        """Poll ``fetch()`` until its ``status`` is ``goal`` and return that last reply.

        :param what: names the resource in messages, e.g. ``postgres dpg-x``.
        :param failed: statuses from which ``goal`` cannot follow; they fail at once.
        :param url: the dashboard URL for messages when the reply has no ``dashboardUrl``.
        :raises StatusFailed: on a status in ``failed``.
        :raises WaitTimeout: when ``timeout`` seconds pass first.
        """
        failed = frozenset(failed)
        deadline = self.clock() + timeout
        delay = self.poll_first
        while True:
            current = fetch()
            status = current.get("status")
            url = current.get("dashboardUrl") or url
            where = f"; see {url}" if url else ""
            if status == goal:
                return current
            if status in failed:
                raise StatusFailed(f"{what} ended with status {status!r} instead of {goal!r}{where}")
            left = deadline - self.clock()
            if left <= 0:
                raise WaitTimeout(f"{what} did not become {goal!r} within {timeout:g}s "
                                  f"(last status: {status!r}){where}")
            self.sleep(min(delay, left))
            delay = min(self.poll_max, delay * self.poll_factor)

    def _post_create(self, client: RenderClient, path: str, body: dict, find: Callable[[], dict | None]) -> Any:
        """POST a create and return the reply (``None`` for an empty 202), never making a thing twice.

        Render has no idempotency keys and the client never retries a POST. A 429 was refused before anything
        was made, so it is tried again after the server's wait. After a lost reply or a 5xx the thing may
        exist: ``find()`` looks (polling as it needs) and what it finds is the result; if it finds nothing
        the error is raised rather than risking a second one.
        """
        for attempt in range(1, self.post_attempts + 1):
            try:
                return client.post(path, json=body)
            except RenderRateLimited as error:
                if attempt == self.post_attempts:
                    raise
                self.sleep(min(self.post_wait_max, error.retry_after or self.poll_first * attempt))
            except (RenderConnectionError, RenderServerError):
                found = find()
                if found is None:
                    raise
                return found
        raise AssertionError("unreachable: the last attempt returns or raises")
