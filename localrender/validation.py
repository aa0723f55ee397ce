"""Contract checks: requests and replies against Render's OpenAPI document (read in place, never copied)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml
from jsonschema.exceptions import best_match

SPEC_ENV = "LOCALRENDER_OPENAPI"
_SPEC_HOST = "http://localrender"


def spec_path() -> Path | None:
    """``$LOCALRENDER_OPENAPI``, else ``../shared/reference/render-openapi.yml`` next to the repository."""
    override = os.environ.get(SPEC_ENV)
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "shared/reference/render-openapi.yml"
    return path if path.is_file() else None


@lru_cache(maxsize=2)
def relaxed_spec(path: str) -> dict:
    """The document as loaded, with two in-memory changes (the file itself is never altered):

    - ``servers`` points at a neutral host so any local port matches;
    - every ``oneOf`` is read as ``anyOf``: the document's oneOf branches have no discriminator and overlap
      (a web service's ``serviceDetails`` also satisfies ``privateServiceDetails``; any PATCH
      ``serviceDetails`` satisfies all five PATCH schemas), so strict oneOf would reject every such
      request and reply Render itself sends.
    """
    with open(path) as handle:
        document = yaml.safe_load(handle)
    document["servers"] = [{"url": f"{_SPEC_HOST}/v1"}]
    return _one_of_as_any_of(document)


def _one_of_as_any_of(node):
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): _one_of_as_any_of(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_one_of_as_any_of(v) for v in node]
    return node


@lru_cache(maxsize=2)
def _openapi(path: str):
    from openapi_core import Config, OpenAPI

    # The document is Render's own; validating the document itself costs seconds and proves nothing here.
    return OpenAPI.from_dict(relaxed_spec(path), config=Config(spec_validator_cls=None))


class _Request:
    """openapi-core's request protocol over a werkzeug request, with the host swapped for the spec's."""

    def __init__(self, request):
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self._request = request
        self.host_url = _SPEC_HOST
        self.path = request.path
        self.method = request.method.lower()
        self.body = request.get_data(cache=True) or None
        self.content_type = request.content_type or "application/json"
        self.parameters = RequestParameters(query=ImmutableMultiDict(request.args), header=Headers(request.headers),
                                            cookie=request.cookies)


class _Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status_code = status
        self.headers = headers
        self.data = body
        self.content_type = headers.get("Content-Type", "") or ""


class ContractChecker:
    """Validates traffic with openapi-core; returns readable one-line violations.

    :raises FileNotFoundError: when the document is absent (pass ``path`` or set ``$LOCALRENDER_OPENAPI``).
    """

    def __init__(self, path: Path | None = None):
        path = path or spec_path()
        if path is None:
            raise FileNotFoundError("Render's OpenAPI document not found at ../shared/reference/render-openapi.yml "
                                    f"(set {SPEC_ENV} to its path)")
        self.path = str(path)
        self._api = _openapi(self.path)

    def request_errors(self, request) -> list[str]:
        errors = self._api.iter_request_errors(_Request(request))
        return [f"{request.method} {request.path}: {_describe(e)}" for e in errors if not _outside_spec(e)]

    def response_errors(self, request, status: int, headers, body: bytes) -> list[str]:
        errors = self._api.iter_response_errors(_Request(request), _Response(status, headers, body))
        return [f"{request.method} {request.path} -> {status}: {_describe(e)}" for e in errors
                if not _outside_spec(e)]


def _outside_spec(error: Exception) -> bool:
    """Paths and methods the document does not describe (admin, deploy hook) are not checked."""
    from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound

    return isinstance(error, (PathNotFound, OperationNotFound))


def _describe(error: Exception) -> str:
    details = []
    current = error
    while current is not None:
        for schema_error in getattr(current, "schema_errors", ()) or ():
            if schema_error.context:  # anyOf: say why the closest branch failed, not just "none matched"
                schema_error = best_match(schema_error.context)
            where = "/".join(str(p) for p in schema_error.absolute_path) or "<root>"
            details.append(f"{where}: {_clip(schema_error.message)}")
        current = current.__cause__
    text = f"{type(error).__name__}: {_clip(str(error))}"
    return text + (" [" + "; ".join(details) + "]" if details else "")


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
