"""Who may read the dashboard and who may write through it; pure functions, so the rules are testable alone.

* **Bound to loopback** (the default) only the machine's own users reach it. The Host header must then
  name a loopback host too: a web page on another site cannot read the dashboard through a DNS name
  it re-points at 127.0.0.1 ("DNS rebinding").
* **Any other address** requires a token (generated, printed at start): in an ``Authorization: Bearer``
  or ``X-Hposweep-Token`` header, or once as ``?token=`` in a link, after which a cookie carries it
  (``HttpOnly``, ``SameSite=Strict``). Compared in constant time.
* **Writes** (``--allow-write``) are POST only, carry a JSON body, and need the ``X-Hposweep-CSRF``
  header holding a secret that only the dashboard's own pages know; a custom header cannot be sent
  cross-site without a CORS preflight, which this server never grants. An ``Origin`` header, when the
  browser sends one, must be this server's own.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

TOKEN_COOKIE = "hposweep_token"
TOKEN_HEADER = "x-hposweep-token"
CSRF_HEADER = "x-hposweep-csrf"
LOOPBACK_NAMES = ("localhost", "localhost.localdomain")


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host part of a Host header (``127.0.0.1:8080`` → ``127.0.0.1``, ``[::1]:80`` → ``::1``)."""
    try:
        return urlsplit("//" + header).hostname or ""
    except ValueError:
        return ""


def same_secret(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


def token_from(headers: Mapping[str, str], query: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return headers.get(TOKEN_HEADER) or query.get("token") or cookies.get(TOKEN_COOKIE)


def origin_ok(headers: Mapping[str, str], scheme: str) -> bool:
    """No Origin (a same-origin GET, curl), or the one this request's Host makes."""
    origin = headers.get("origin")
    if origin is None:
        return True
    host = headers.get("host", "")
    return origin in (f"{scheme}://{host}", f"http://{host}", f"https://{host}")
