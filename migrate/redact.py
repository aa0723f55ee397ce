"""Secret masking shared by every message, report and log line: connection-string passwords and known secrets.

One place so that every path (libpq errors, Prisma output, smoke failures, Render API errors, the local engine's
command output) masks the same way: known secret values first (longest first, so a URL goes before the password
inside it), then the password of any ``scheme://user:password@`` left in the text.
"""

from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import unquote, urlsplit

MASK = "***"
URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^\s:/@]+:)[^\s@/]+@", re.IGNORECASE)


def url_secrets(url: str | None) -> set[str]:
    """The secret part of a connection string: its password, raw and percent-decoded.

    The rest (user, host, database) stays readable in messages; a URL too malformed to split yields its
    whole text, so it is masked entirely.
    """
    if not url:
        return set()
    try:
        password = urlsplit(url).password
    except ValueError:
        return {url}
    return {password or "", unquote(password or "")} - {""}


def redact(text: str, secrets: Iterable[str] = (), *, mask: str = MASK, one_line: bool = False) -> str:
    """``text`` with each of ``secrets`` and every URL password replaced by ``mask``.

    :param one_line: also fold whitespace runs (newlines included) into single spaces, for error messages.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, mask)
    text = URL_PASSWORD.sub(rf"\g<head>{mask}@", text)
    return " ".join(text.split()) if one_line else text
