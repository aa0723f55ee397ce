"""One masking rule for every message: known secrets first, then any URL password."""

import pytest

from migrate.redact import redact, url_secrets


def test_known_secrets_are_masked_longest_first():
    url = "postgresql://app:pw@db/x"
    assert redact(f"connect {url} failed", [url, "pw"]) == "connect *** failed"


def test_url_passwords_are_masked_even_when_not_known():
    assert redact("see https://u:tok3n@h/p and postgres://v:p%40ss@db/x") == \
        "see https://u:***@h/p and postgres://v:***@db/x"


def test_one_line_folds_newlines_and_a_custom_mask_is_used():
    assert redact("a\n  b sekret\n", ["sekret"], mask="[secret]", one_line=True) == "a b [secret]"


@pytest.mark.parametrize("url, expected", [
    ("postgresql://alice:S3cr%40t@h:5432/app", {"S3cr%40t", "S3cr@t"}),
    ("postgresql://app@h/db", set()),
    (None, set()),
    ("postgresql://x:[bad@h", {"postgresql://x:[bad@h"}),  # too malformed to split: masked whole
])
def test_url_secrets_are_the_password_forms(url, expected):
    assert url_secrets(url) == expected
