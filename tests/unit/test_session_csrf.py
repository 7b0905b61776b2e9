"""The page session's cookies and cross-site checks (api/csrf.py), on real Starlette
requests and responses: Secure over TLS or behind a trusted proxy only, SameSite=Lax,
HttpOnly for the session; a browser's write from another origin refused; the
sign-in page's `next` never leads to another site."""

from __future__ import annotations

import pytest
from fastapi import Request, Response

from couponchain.api.csrf import (
    origin,
    relying_party,
    safe_next,
    same_origin,
    set_session_cookies,
)
from couponchain.config import Settings
from couponchain.errors import Forbidden


def request(scheme: str = "http", host: str = "shop.example:8000",
            headers: dict[str, str] | None = None) -> Request:
    raw = [(b"host", host.encode())] + [(k.encode(), v.encode())
                                        for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": "POST", "scheme": scheme, "path": "/",
                    "query_string": b"", "headers": raw, "server": ("127.0.0.1", 8000)})


def settings(**values: object) -> Settings:
    return Settings(dev_mode=True, **values)  # type: ignore[arg-type]


def cookies(req: Request, conf: Settings) -> list[str]:
    response = Response()
    set_session_cookies(response, req, conf, "ccs_x_secret")
    return [v.decode() for k, v in response.raw_headers if k == b"set-cookie"]


def test_the_session_cookie_is_secure_over_tls_or_a_trusted_proxy_only() -> None:
    plain = cookies(request(), settings())
    assert all("Secure" not in c and "SameSite=lax" in c for c in plain)
    assert "HttpOnly" in plain[0] and "HttpOnly" not in plain[1]
    assert all("Secure" in c for c in cookies(request("https"), settings()))
    proxied = request(headers={"x-forwarded-proto": "https"})
    assert all("Secure" not in c for c in cookies(proxied, settings()))  # not trusted
    trusted = settings(trust_forwarded_proto=True)
    assert all("Secure" in c for c in cookies(proxied, trusted))
    assert origin(proxied, trusted) == "https://shop.example:8000"


def test_passkeys_are_made_for_the_configured_origin_or_the_requests_own() -> None:
    assert relying_party(request(), settings()).rp_id == "shop.example"
    configured = settings(public_origin="https://coupons.example.com/")
    rp = relying_party(request(host="evil.example"), configured)
    assert (rp.rp_id, rp.origin) == ("coupons.example.com", "https://coupons.example.com")


@pytest.mark.parametrize("headers", [{"origin": "https://evil.example"},
                                     {"origin": "http://shop.example:8001"},
                                     {"origin": "null"},
                                     {"sec-fetch-site": "cross-site"}])
def test_a_write_from_another_site_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(Forbidden) as refused:
        same_origin(request(headers=headers), settings())
    assert refused.value.field == "Origin"


def test_a_write_from_the_site_itself_or_a_machine_passes() -> None:
    same_origin(request(headers={"origin": "http://shop.example:8000",
                                 "sec-fetch-site": "same-origin"}), settings())
    same_origin(request(), settings())  # no Origin: not a browser's cross-site request


@pytest.mark.parametrize(("given", "kept"), [
    ("/products/3/buy?link=abc", "/products/3/buy?link=abc"),
    ("https://evil.example/", "/me"), ("//evil.example/x", "/me"), ("/\\evil.example", "/me"),
    ("", "/me"), (None, "/me")])
def test_after_signing_in_a_person_goes_back_to_this_site_only(given: str | None,
                                                               kept: str) -> None:
    assert safe_next(given) == kept
