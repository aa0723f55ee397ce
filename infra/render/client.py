"""RenderClient: the one way our code calls Render's REST API (auth, timeouts, retries, pagination, errors)."""

from __future__ import annotations

import email.utils
import logging
import math
import os
import random
import re
import time
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from infra.render.errors import (RenderAPIError, RenderConnectionError, RenderRateLimited, RenderServerError,
                                 error_from_reply)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.render.com/v1"
USER_AGENT = f"render-cutover/1 python-requests/{requests.__version__}"
# Render has no idempotency keys, so a repeated POST may create a second resource: only these are retried.
RETRY_METHODS = frozenset({"GET", "PUT", "PATCH", "DELETE"})
# Render's docs call Ratelimit-Reset "epoch seconds" while observed replies count down (58, 1017...):
# a value this large (2001-09-09) can only be an epoch.
_EPOCH_FLOOR = 1_000_000_000
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")
# Network failures that produce no (complete) reply; anything else from requests is a bug on our side.
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def retry_hint(headers: Mapping[str, str], now: float,
               names: tuple[str, ...] = ("Retry-After", "Ratelimit-Reset")) -> float | None:
    """Seconds the server asks us to wait, from the first of ``names`` that parses; ``None`` if none does.

    Each header may hold seconds left, epoch seconds, or (``Retry-After``) an HTTP date; past times give 0.
    """
    for name in names:
        value = headers.get(name)
        seconds = _parse_wait(value.strip(), now) if value else None
        if seconds is not None:
            return seconds
    return None


def _parse_wait(value: str, now: float) -> float | None:
    try:
        number = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, moment.timestamp() - now)
    if not math.isfinite(number) or number < 0:
        return None
    return max(0.0, number - now) if number >= _EPOCH_FLOOR else number


def backoff(attempt: int, *, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff for retry number ``attempt`` (0-based): ``base * 2**attempt`` capped, times [0.5, 1]."""
    return min(cap, base * 2 ** attempt) * (0.5 + jitter / 2)


class _BearerAuth(requests.auth.AuthBase):
    """Adds the Authorization header; an explicit auth also stops requests from applying ~/.netrc instead."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.key}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


class RenderClient:
    """A client for one API key. Cheap to build: providers create one per method call and close it.

    :param api_key: the Render API key (never logged or shown in errors).
    :param base_url: defaults to ``RENDER_API_URL`` or ``https://api.render.com/v1``.
    :param timeout: seconds, ``(connect, read)`` or one number, applied to every call.
    :param max_retries: retries after the first try of a GET/PUT/PATCH/DELETE (POST: none).
    :param backoff_base: first backoff in seconds; doubles per retry, jittered by ``jitter()`` in [0, 1).
    :param max_wait: cap on any single wait, including the server's Retry-After/Ratelimit-Reset hint.
    :param sleep: called with each wait (tests pass a recorder); ``clock`` gives epoch seconds.
    """

    def __init__(self, api_key: str, base_url: str | None = None, *, timeout: Any = (5, 30),
                 max_retries: int = 5, backoff_base: float = 0.5, max_wait: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep, jitter: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.time) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("the Render API key is empty (set RENDER_API_KEY or the stack's renderApiKey)")
        self.base_url = _check_base_url(base_url or os.environ.get("RENDER_API_URL") or DEFAULT_BASE_URL)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.max_wait = max_wait
        self._sleep, self._jitter, self._clock = sleep, jitter, clock
        # The key lives only inside the auth object, whose repr is masked, so dumping the client shows nothing.
        self._auth = _BearerAuth(api_key)
        self._session = requests.Session()
        self._session.auth = self._auth
        self._session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> RenderClient:
        """Build a client from ``RENDER_API_KEY`` (required) and ``RENDER_API_URL`` (optional).

        :raises ValueError: when ``RENDER_API_KEY`` is unset or empty.
        """
        environ = os.environ if environ is None else environ
        key = environ.get("RENDER_API_KEY", "")
        if not key.strip():
            raise ValueError("RENDER_API_KEY is not set: export the Render API key to call the API")
        return cls(key, environ.get("RENDER_API_URL") or None, **options)

    @classmethod
    def from_config(cls, config: Any, key_name: str = "renderApiKey", url_name: str = "renderApiUrl",
                    **options: Any) -> RenderClient:
        """Build a client from stack config (anything with ``.get(name)``), falling back to the environment.

        :raises ValueError: when neither the config key ``key_name`` nor ``RENDER_API_KEY`` is set.
        """
        key = config.get(key_name) or os.environ.get("RENDER_API_KEY", "")
        if not key.strip():
            raise ValueError(f"no Render API key: run `pulumi config set --secret {key_name} ...` "
                             "or export RENDER_API_KEY")
        return cls(key, config.get(url_name) or None, **options)

    def __repr__(self) -> str:
        return f"RenderClient(base_url={self.base_url!r})"

    def __enter__(self) -> RenderClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` (relative to the base URL, e.g. ``/postgres/dpg-x``) and return the decoded JSON."""
        return self.request("GET", path, params=params)

    def post(self, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """POST once, never retried: after a failure look the resource up before creating it again."""
        return self.request("POST", path, json=json, params=params)

    def put(self, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """PUT ``json`` to ``path``; retried on 429, 5xx and network errors."""
        return self.request("PUT", path, json=json, params=params)

    def patch(self, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """PATCH ``path`` with ``json``; retried on 429, 5xx and network errors."""
        return self.request("PATCH", path, json=json, params=params)

    def delete(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """DELETE ``path``. A 404 raises ``RenderNotFound``; callers decide that gone means done."""
        return self.request("DELETE", path, params=params)

    def request(self, method: str, path: str, *, json: Any = None,
                params: Mapping[str, Any] | None = None) -> Any:
        """Send one call, retrying per the rules above; return decoded JSON or ``None`` for an empty reply.

        :raises RenderAPIError: the subclass for the final failure (``error_class`` maps statuses).
        """
        method = method.upper()
        url = self._url(path)
        attempt = 0
        while True:
            try:
                return self._send_once(method, url, json, params)
            except (RenderRateLimited, RenderServerError, RenderConnectionError) as error:
                wait = self._retry_wait(method, error, attempt)
                if wait is None:
                    raise
                attempt += 1
                log.warning("%s; retry %d of %d in %.1fs", error, attempt, self.max_retries, wait)
                self._sleep(wait)

    def iter_items(self, path: str, key: str, *, limit: int = 100, **params: Any) -> Iterator[dict]:
        """Yield every ``item[key]`` of a cursor-paginated list such as ``GET /postgres`` -> ``[{cursor, postgres}]``.

        Filters go in ``params``; a list value matches any of its items (``name=[a, b]`` -> ``name=a,b``).
        Asks for the next page with the last item's cursor and stops at the first empty page.
        """
        cursor = None
        while True:
            query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
            page = self.get(path, params=query)
            if not page:
                return
            if not isinstance(page, list) or not all(isinstance(item, dict) and key in item for item in page):
                raise self._shape_error(path, f"expected a list of {{cursor, {key}}} items")
            for item in page:
                yield item[key]
            previous, cursor = cursor, page[-1].get("cursor")
            if not cursor or cursor == previous:
                raise self._shape_error(path, f"the list's cursor did not advance (got {cursor!r})")

    def _send_once(self, method: str, url: str, json: Any, params: Mapping[str, Any] | None) -> Any:
        where = urlsplit(url).path  # never the query: a deploy-hook URL carries its key there
        try:
            response = self._session.request(method, url, json=json, params=_query(params), timeout=self.timeout)
        except _NETWORK_ERRORS as exc:
            # `from None`: requests' exception holds the prepared request, Authorization header included.
            raise RenderConnectionError(method, where, None, self._describe(method, exc)) from None
        log.debug("%s %s -> %s", method, where, response.status_code)
        if response.status_code >= 400:
            raise error_from_reply(method, where, response.status_code, response.text, reason=response.reason or "",
                                   request_id=response.headers.get("Render-Request-Id"),
                                   retry_after=self._hint(response), secrets=(self._auth.key,))
        if response.status_code == 204 or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise RenderAPIError(method, where, response.status_code, f"the reply is not JSON ({kind})",
                                 request_id=response.headers.get("Render-Request-Id")) from None

    def _hint(self, response: requests.Response) -> float | None:
        if response.status_code == 429:
            return retry_hint(response.headers, self._clock())
        if response.status_code >= 500:
            return retry_hint(response.headers, self._clock(), ("Retry-After",))
        return None

    def _retry_wait(self, method: str, error: RenderAPIError, attempt: int) -> float | None:
        """Seconds to wait before retry ``attempt`` (0-based), or ``None`` when the error must be raised."""
        if method not in RETRY_METHODS or attempt >= self.max_retries:
            return None
        delay = backoff(attempt, base=self.backoff_base, cap=self.max_wait, jitter=self._jitter())
        return min(self.max_wait, max(delay, error.retry_after or 0.0))

    def _describe(self, method: str, exc: Exception) -> str:
        connect, read = self.timeout if isinstance(self.timeout, tuple) else (self.timeout, self.timeout)
        root = _root_cause(exc)
        found = _ERRNO.search(str(exc))
        if isinstance(exc, requests.ConnectTimeout):
            what = f"connect timed out after {connect}s"
        elif isinstance(exc, requests.ReadTimeout):
            what = f"no reply within {read}s"
        else:
            what = found.group(0).strip() if found else f"{type(root).__name__}: {str(root)[:120]}"
        # Only a connection that never opened proves the request was not sent.
        never_sent = isinstance(exc, requests.ConnectTimeout) or isinstance(root, NewConnectionError)
        if method not in RETRY_METHODS and not never_sent:
            what += "; it may still have been applied, look the resource up before trying again"
        parts = urlsplit(self.base_url)
        return f"{what} ({parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)})"

    def _url(self, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"API path must start with '/': {path!r}")
        return self.base_url + path

    def _shape_error(self, path: str, message: str) -> RenderAPIError:
        return RenderAPIError("GET", urlsplit(self._url(path)).path, 200, message)


def _check_base_url(url: str) -> str:
    parts = urlsplit(url)
    try:
        parts.port  # raises on a malformed port
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the Render API base URL must be http(s)://host[/v1], got {parts.scheme or 'no'} "
                         f"scheme and host {parts.hostname!r} (check RENDER_API_URL / renderApiUrl)")
    return url.rstrip("/")


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception that requests and urllib3 wrapped (in ``.reason`` or ``.args``)."""
    for _ in range(10):  # wrappers nest 2-3 deep; the bound only guards against a cycle
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next((a for a in reversed(exc.args) if isinstance(a, BaseException)), None)
        if inner is None:
            break
        exc = inner
    return exc


def _query(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Spell values as the API expects: booleans ``true``/``false``, ``None`` dropped, and lists joined with commas.

    Render's OpenAPI document declares its multi-value filters ``style: form, explode: false`` (``name=a,b``),
    which is what Render's generated clients send; so a single filter value must not contain a comma.
    """
    if params is None:
        return None

    def spell(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    def join(name: str, values: Any) -> str:
        items = [spell(v) for v in values]
        if any("," in item for item in items):
            raise ValueError(f"filter {name!r}: a value holds a comma, which the API reads as a separator: {items}")
        return ",".join(items)

    return {name: join(name, value) if isinstance(value, (list, tuple, set, frozenset)) else spell(value)
            for name, value in params.items() if value is not None}
