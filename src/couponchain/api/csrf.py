"""Cross-site request forgery, and the page session's cookies.

A page signed in with a session cookie writes only with both:
- the session's CSRF token in `X-CSRF-Token` (double submit: the page's script
  reads it from the `cc_csrf` cookie; another site can neither read it nor
  guess it, since it is derived from the HttpOnly session token), checked in
  `api.deps.get_auth`;
- a same-site origin: a browser's `Origin` header, when sent, must be the
  platform's origin, and `Sec-Fetch-Site: cross-site` is refused (`same_origin`).

The cookies are HttpOnly (the session), SameSite=Lax (a link followed from a
chat or another site opens the page signed in; a cross-site POST carries no
cookie), and Secure when the page is served over TLS: the request's scheme, or
the proxy's `X-Forwarded-Proto` when `COUPONCHAIN_TRUST_FORWARDED_PROTO` is set.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from fastapi import Request, Response

from couponchain.config import Settings
from couponchain.errors import Forbidden
from couponchain.services.accounts_ceremony import RelyingParty
from couponchain.services.credentials import SESSION_LIFETIME, csrf_token

SESSION_COOKIE, CSRF_COOKIE, CSRF_HEADER = "cc_session", "cc_csrf", "x-csrf-token"
SAMESITE: Literal["lax"] = "lax"


def scheme(request: Request, settings: Settings) -> str:
    """http or https, as the browser sees the page."""
    if settings.trust_forwarded_proto:
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        if forwarded in ("http", "https"):
            return forwarded
    return request.url.scheme


def origin(request: Request, settings: Settings) -> str:
    """The platform's origin: configured, or else the request's own."""
    if settings.public_origin:
        return settings.public_origin.rstrip("/")
    host = request.headers.get("host") or request.url.netloc
    return f"{scheme(request, settings)}://{host}"


def relying_party(request: Request, settings: Settings) -> RelyingParty:
    """The site passkeys are made for: the origin's host name."""
    site = origin(request, settings)
    return RelyingParty(rp_id=urlsplit(site).hostname or "", origin=site)


def same_origin(request: Request, settings: Settings) -> None:
    """Refuse a write a browser sent from another site (field `Origin`)."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        raise Forbidden("a write from another site is refused", field="Origin")
    sent = request.headers.get("origin")
    if sent is not None and sent.rstrip("/") != origin(request, settings):
        raise Forbidden(f"a write from another site ({sent[:100]}) is refused", field="Origin")


def safe_next(value: str | None) -> str:
    """Where to go once signed in: a path on this site only (never another site's URL)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/me"
    return value[:2000]


def set_session_cookies(response: Response, request: Request, settings: Settings,
                        token: str) -> None:
    """Sign the browser in: the session cookie and the CSRF token cookie."""
    secure = scheme(request, settings) == "https"
    lifetime = int(SESSION_LIFETIME.total_seconds())
    response.set_cookie(SESSION_COOKIE, token, max_age=lifetime, path="/", httponly=True,
                        samesite=SAMESITE, secure=secure)
    response.set_cookie(CSRF_COOKIE, csrf_token(token), max_age=lifetime, path="/",
                        httponly=False, samesite=SAMESITE, secure=secure)
    response.headers["cache-control"] = "no-store"


def clear_session_cookies(response: Response, request: Request, settings: Settings) -> None:
    """Sign the browser out (the session row is revoked by the caller)."""
    secure = scheme(request, settings) == "https"
    for name, http_only in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, path="/", httponly=http_only, samesite=SAMESITE,
                               secure=secure)
