"""The Render calls behind ``python -m infra.rollback``: find deploys, set one env var, trigger and await a deploy."""

from __future__ import annotations

import ipaddress
import re
import time
from itertools import islice
from typing import Callable, Optional
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests

from infra.render.client import RenderClient
from infra.render.errors import RenderConnectionError, RenderNotFound, RenderServerError

# Deploy statuses after which a deploy never becomes live; the same list as infra/render/deploy.py, repeated so
# the emergency tool does not import the Pulumi SDK (it must work where the Pulumi setup is what broke).
FAILED = ("build_failed", "pre_deploy_failed", "update_failed", "canceled", "deactivated")
RETURNABLE = ("live", "deactivated")  # deploys that ran once; Render can roll back to their build
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[0-9a-f]{64}")
_HISTORY = 100  # deploys read when looking for the previous one: one page


class RollbackError(Exception):
    """A rollback could not be planned or did not finish; the message is one line without secrets."""


def service(client: RenderClient, service_id: str) -> dict:
    try:
        return client.get(f"/services/{service_id}")
    except RenderNotFound:
        raise RollbackError(f"no service {service_id} for this API key (check --service and RENDER_API_KEY)") \
            from None


def _history(client: RenderClient, service_id: str) -> list[dict]:
    """Recent deploys, newest first (Render does not promise an order, so sort by creation time)."""
    deploys = islice(client.iter_items(f"/services/{service_id}/deploys", "deploy", limit=_HISTORY), _HISTORY)
    return sorted(deploys, key=lambda d: d.get("createdAt") or "", reverse=True)


def live_deploy(client: RenderClient, service_id: str) -> Optional[dict]:
    return next((d for d in _history(client, service_id) if d.get("status") == "live"), None)


def previous_deploy(client: RenderClient, service_id: str, live: Optional[dict]) -> dict:
    """The newest deploy that went live before the live one (``deactivated``: superseded by a newer live one)."""
    before = (live or {}).get("createdAt") or "~"  # "~" sorts after any timestamp: no live deploy, any will do
    for deploy in _history(client, service_id):
        if deploy.get("status") == "deactivated" and (deploy.get("createdAt") or "") < before:
            return deploy
    raise RollbackError(f"service {service_id} has no previous deploy to roll back to (no earlier deploy ever "
                        f"went live among its last {_HISTORY}); use --to-deploy or --hook-url-env")


def deploy_to_return_to(client: RenderClient, service_id: str, deploy_id: str) -> dict:
    try:
        deploy = client.get(f"/services/{service_id}/deploys/{deploy_id}")
    except RenderNotFound:
        raise RollbackError(f"service {service_id} has no deploy {deploy_id}") from None
    if deploy.get("status") not in RETURNABLE:
        raise RollbackError(f"deploy {deploy_id} never went live (status {deploy.get('status')!r}); "
                            "Render can only roll back to a deploy that did")
    return deploy


def deploy_label(deploy: dict) -> str:
    """``dep-x (commit abc1234, live)``: what an operator recognises a deploy by."""
    commit = (deploy.get("commit") or {}).get("id")
    image = (deploy.get("image") or {}).get("ref")
    what = f"commit {commit[:7]}" if commit else f"image {image}" if image else "no commit"
    return f"{deploy['id']} ({what}, {deploy.get('status')}, trigger {deploy.get('trigger')})"


def check_hook_url(url: str, service_id: str, source: str) -> None:
    """The hook must be this service's (``.../deploy/srv-x?key=...``) and go over https (http: loopback only)."""
    parts = urlsplit(url)
    has_key = bool(dict(parse_qsl(parts.query)).get("key"))
    if parts.path.rstrip("/").rsplit("/", 2)[-2:] != ["deploy", service_id] or not has_key:
        named = re.search(r"srv-[a-z0-9]+", parts.path)
        other = f" (it names {named.group(0)})" if named else ""
        raise RollbackError(f"${source} is not the deploy hook of {service_id}{other}: expected "
                            f"https://api.render.com/deploy/{service_id}?key=...")
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
        raise RollbackError(f"${source} must be an https URL (it carries a secret key)")


def _loopback(host: Optional[str]) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def image_ref(service: dict, tag: str) -> str:
    """The service's image with ``tag`` (or an ``sha256:`` digest): Render only lets the tag or digest change."""
    path = service.get("imagePath")
    if not path:
        raise RollbackError(f"service {service['id']} builds from a repository, not an image: --image-tag needs "
                            "an image-backed service; use --previous or --to-deploy")
    repo = path.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:  # a tag, not a registry port (which sits before the first slash)
        repo = repo[: len(repo) - len(last)] + last.split(":", 1)[0]
    return f"{repo}@{tag}" if tag.startswith("sha256:") else f"{repo}:{tag}"


def internal_url(client: RenderClient, postgres_id: str) -> str:
    try:
        db = client.get(f"/postgres/{postgres_id}")
        info = client.get(f"/postgres/{postgres_id}/connection-info") or {}
    except RenderNotFound:
        raise RollbackError(f"no Render Postgres {postgres_id} for this API key") from None
    if db.get("status") != "available":
        raise RollbackError(f"postgres {postgres_id} is {db.get('status')!r}, not 'available'; resume it first")
    url = info.get("internalConnectionString")
    if not url:
        raise RollbackError(f"postgres {postgres_id} has no internal connection string")
    return url


def is_postgres_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("postgres", "postgresql") and bool(parts.hostname)


def safe_url(url: Optional[str]) -> str:
    """A connection string without its password and query (``postgresql://user@host:5432/db``)."""
    if url is None:
        return "(not set)"
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(a value that is not a URL)"
    if not parts.scheme or not parts.hostname:
        return "(a value that is not a URL)"
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{parts.hostname}{port}{parts.path}"


def env_value(client: RenderClient, service_id: str, key: str) -> Optional[str]:
    try:
        return (client.get(f"/services/{service_id}/env-vars/{key}") or {}).get("value")
    except RenderNotFound:
        return None


def put_env(client: RenderClient, service_id: str, key: str, value: str) -> None:
    """One key through the per-key endpoint: ``PUT /env-vars`` would replace every variable of the service."""
    client.put(f"/services/{service_id}/env-vars/{key}", json={"value": value})


class Waiter:
    """Triggers one deploy of one service and polls it; ``sleep``/``clock`` are injectable for tests."""

    poll_first, poll_max, find_timeout = 2.0, 10.0, 60.0

    def __init__(self, client: RenderClient, service_id: str, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.client, self.service_id, self.sleep, self.clock = client, service_id, sleep, clock

    def rollback(self, deploy_id: str) -> dict:
        """``POST /services/{id}/rollback``; after a lost reply or a 5xx, looks for the deploy it may have made."""
        before = {d["id"] for d in _history(self.client, self.service_id)}
        try:
            return self.client.post(f"/services/{self.service_id}/rollback", json={"deployId": deploy_id})
        except (RenderConnectionError, RenderServerError) as error:
            found = self._new_deploy(before, "rollback")
            if found is None:
                raise RollbackError(f"{error}; no rollback deploy appeared within {self.find_timeout:g}s, look at "
                                    "the service's deploys before trying again") from None
            return found

    def hook(self, url: str, image: str, source: str) -> dict:
        """Call the deploy hook with ``imgURL``; the reply's deploy id, or the new deploy_hook deploy."""
        before = {d["id"] for d in _history(self.client, self.service_id)}
        parts = urlsplit(url)
        query = urlencode([*parse_qsl(parts.query), ("imgURL", image)], quote_via=quote, safe="")
        try:
            reply = requests.post(urlunsplit(parts._replace(query=query)), timeout=(5, 30))
        except requests.RequestException as error:
            # Not the exception text: it holds the URL and so the key.
            raise RollbackError(f"the deploy hook from ${source} did not answer ({type(error).__name__})") from None
        if reply.status_code >= 400:
            why = " (a wrong or regenerated key)" if reply.status_code == 404 else ""
            raise RollbackError(f"the deploy hook from ${source} answered {reply.status_code}{why}")
        try:
            deploy_id = ((reply.json() or {}).get("deploy") or {}).get("id")
        except ValueError:  # the hook's reply body is undocumented
            deploy_id = None
        found = {"id": deploy_id} if deploy_id else self._new_deploy(before, "deploy_hook")
        if not found:
            raise RollbackError(f"the deploy hook answered {reply.status_code} but no deploy appeared within "
                                f"{self.find_timeout:g}s")
        return found

    def until_live(self, deploy_id: str, timeout: float, progress: Callable[[str], None]) -> dict:
        """Poll the deploy until ``live``; report each new status through ``progress``."""
        deadline, delay, seen = self.clock() + timeout, self.poll_first, None
        while True:
            deploy = self.client.get(f"/services/{self.service_id}/deploys/{deploy_id}")
            status = deploy.get("status")
            if status != seen:
                progress(f"deploy {deploy_id}: {status}")
                seen = status
            if status == "live":
                return deploy
            if status in FAILED:
                raise RollbackError(f"deploy {deploy_id} ended with status {status!r} instead of 'live'; see "
                                    f"the service's deploys in the dashboard")
            if self.clock() >= deadline:
                raise RollbackError(f"deploy {deploy_id} was not live within {timeout:g}s (last status "
                                    f"{status!r}); it may still finish: watch the dashboard")
            self.sleep(min(delay, max(0.0, deadline - self.clock())))
            delay = min(self.poll_max, delay * 1.5)

    def _new_deploy(self, before: set[str], trigger: str) -> Optional[dict]:
        deadline = self.clock() + self.find_timeout
        while True:
            fresh = [d for d in _history(self.client, self.service_id)
                     if d["id"] not in before and d.get("trigger") in (None, trigger)]
            if fresh:
                return fresh[0]
            if self.clock() >= deadline:
                return None
            self.sleep(self.poll_first)
