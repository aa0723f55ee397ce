"""Render's rate limits as fixed windows per bucket, with the ``Ratelimit-*`` headers it sends."""

from __future__ import annotations

import math
import re
import threading
import time

# (limit, window seconds) per bucket, from the values Render was observed to send (reference/render-api.md):
# GET 400/min, generic writes 100/min, per-service PATCH/deploy/suspend/resume/hook 10/min,
# POST /postgres 20 with a ~1000 s reset (taken as per hour), POST /services 20/hour.
DEFAULT_LIMITS = {
    "get": (400, 60),
    "write": (100, 60),
    "service_action": (10, 60),
    "create_postgres": (20, 3600),
    "create_service": (20, 3600),
}
_SERVICE_ACTION = re.compile(r"^/v1/services/([^/]+)/(deploys|suspend|resume|rollback)$")
_HOOK = re.compile(r"^/deploy/([^/]+)$")


def bucket_for(method: str, path: str) -> tuple[str, str]:
    """The bucket name and its key (per-service buckets are keyed by service ID)."""
    if method == "POST" and path == "/v1/postgres":
        return "create_postgres", ""
    if method == "POST" and path == "/v1/services":
        return "create_service", ""
    action = _SERVICE_ACTION.match(path)
    hook = _HOOK.match(path)
    if hook:
        return "service_action", hook.group(1)
    if method == "POST" and action:
        return "service_action", action.group(1)
    if method == "PATCH" and re.fullmatch(r"/v1/services/[^/]+", path):
        return "service_action", path.rsplit("/", 1)[1]
    return ("get", "") if method in ("GET", "HEAD") else ("write", "")


class RateLimiter:
    """Counts requests per (bucket, key) in fixed windows; ``limits`` can be changed while running."""

    def __init__(self, limits: dict | None = None, clock=time.monotonic):
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], list] = {}

    def set(self, bucket: str, limit: int, window: float) -> None:
        """Change one bucket's limit; raises ValueError for an unknown bucket."""
        if bucket not in DEFAULT_LIMITS:
            raise ValueError(f"unknown rate-limit bucket {bucket!r}; known: {', '.join(DEFAULT_LIMITS)}")
        with self._lock:
            self.limits[bucket] = (int(limit), float(window))
            self._windows = {k: v for k, v in self._windows.items() if k[0] != bucket}

    def hit(self, method: str, path: str) -> tuple[bool, dict]:
        """Count one request; returns (allowed, headers). Rejected requests are not counted."""
        bucket, key = bucket_for(method, path)
        limit, window = self.limits[bucket]
        now = self._clock()
        with self._lock:
            start, used = self._windows.get((bucket, key), (now, 0))
            if now - start >= window:
                start, used = now, 0
            allowed = used < limit
            if allowed:
                used += 1
            self._windows[(bucket, key)] = [start, used]
        reset = max(1, math.ceil(start + window - now))
        # Ratelimit-Reset counts down seconds to the reset, as observed (the docs say epoch seconds).
        headers = {"Ratelimit-Limit": str(limit), "Ratelimit-Remaining": str(max(0, limit - used)),
                   "Ratelimit-Reset": str(reset)}
        if not allowed:
            headers["Retry-After"] = str(reset)
        return allowed, headers
