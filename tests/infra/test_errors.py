"""Tests for infra/render/errors.py: status mapping, one-line str/repr, message extraction and redaction."""

from __future__ import annotations

import json
import pickle

import pytest

from infra.render.errors import (RenderAPIError, RenderAuthError, RenderBadRequest, RenderConflict,
                                 RenderConnectionError, RenderNotFound, RenderRateLimited, RenderServerError,
                                 error_class, error_from_reply, redact)

KEY = "rnd_SECRETkey0123456789abcdef"


@pytest.mark.parametrize("status, cls", [
    (400, RenderBadRequest), (422, RenderBadRequest), (401, RenderAuthError), (403, RenderAuthError),
    (404, RenderNotFound), (409, RenderConflict), (429, RenderRateLimited), (500, RenderServerError),
    (502, RenderServerError), (503, RenderServerError), (402, RenderAPIError), (410, RenderAPIError),
    (None, RenderConnectionError),
])
def test_error_class_maps_each_status(status, cls):
    assert error_class(status) is cls


def test_every_error_class_is_a_render_api_error():
    for status in (400, 401, 404, 409, 429, 500, None):
        assert issubclass(error_class(status), RenderAPIError)


def test_str_is_one_self_contained_line():
    err = RenderBadRequest("POST", "/v1/postgres", 400, "plan is invalid", request_id="req-123")
    assert str(err) == "POST /v1/postgres -> 400: plan is invalid (request req-123)"


def test_str_shows_code_and_retry_hint_when_present():
    err = RenderRateLimited("GET", "/v1/services", 429, "rate limit exceeded", code="rate_limited",
                            retry_after=12.5, request_id="req-9")
    assert str(err) == "GET /v1/services -> 429: rate limit exceeded [rate_limited] (retry after 12.5s) (request req-9)"


def test_str_of_a_connection_error_says_no_reply():
    err = RenderConnectionError("GET", "/v1/owners", None, "[Errno 111] Connection refused (127.0.0.1:9)")
    assert str(err) == "GET /v1/owners -> no reply: [Errno 111] Connection refused (127.0.0.1:9)"


def test_repr_names_the_class_and_fields_but_not_the_body():
    err = RenderNotFound("GET", "/v1/postgres/dpg-x", 404, "not found: dpg-x", body={"secretish": "b0dy"},
                         request_id="req-1")
    assert repr(err) == ("RenderNotFound(method='GET', path='/v1/postgres/dpg-x', status=404, "
                         "message='not found: dpg-x', request_id='req-1')")
    assert "b0dy" not in str(err) + repr(err)


def test_error_from_reply_takes_renders_message_code_and_request_id():
    body = json.dumps({"id": "e1", "message": "not found: srv-abc", "code": "not_found"})
    err = error_from_reply("DELETE", "/v1/services/srv-abc", 404, body, reason="Not Found", request_id="req-7")
    assert type(err) is RenderNotFound
    assert (err.method, err.path, err.status, err.message, err.code, err.request_id) == (
        "DELETE", "/v1/services/srv-abc", 404, "not found: srv-abc", "not_found", "req-7")
    assert err.body == {"id": "e1", "message": "not found: srv-abc", "code": "not_found"}


def test_error_from_reply_folds_a_non_json_body_onto_one_line():
    err = error_from_reply("GET", "/v1/owners", 502, "<html>\n<body>Bad\n gateway</body>\n</html>\n")
    assert type(err) is RenderServerError
    assert err.message == "<html> <body>Bad gateway</body> </html>"
    assert "\n" not in str(err)


def test_error_from_reply_falls_back_to_the_reason_phrase_for_an_empty_body():
    err = error_from_reply("GET", "/v1/owners", 503, "", reason="Service Unavailable")
    assert err.message == "Service Unavailable"
    assert err.body is None


def test_error_from_reply_truncates_a_huge_message():
    err = error_from_reply("GET", "/v1/owners", 500, json.dumps({"message": "x" * 5000}))
    assert len(err.message) == 303 and err.message.endswith("...")


def test_error_from_reply_redacts_the_key_and_url_passwords_everywhere():
    body = json.dumps({"message": f"bad token {KEY}; tried postgres://app:hunter2@db.example/tasks"})
    err = error_from_reply("POST", "/v1/postgres", 401, body, secrets=[KEY])
    assert err.message == "bad token ***; tried postgres://app:***@db.example/tasks"
    for text in (str(err), repr(err), json.dumps(err.body)):
        assert KEY not in text
    assert "hunter2" not in str(err) + repr(err)


def test_redact_leaves_urls_without_passwords_alone():
    assert redact("see https://api.render.com/v1/postgres and postgres://app@h/db") == (
        "see https://api.render.com/v1/postgres and postgres://app@h/db")


def test_errors_survive_pickling_with_their_fields():
    err = RenderRateLimited("GET", "/v1/postgres", 429, "slow down", retry_after=3.0, request_id="req-2")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is RenderRateLimited
    assert (str(copy), copy.retry_after) == (str(err), 3.0)
