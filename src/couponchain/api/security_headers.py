"""Security headers on every response (issue 20 §7).

Pages get a Content-Security-Policy that runs scripts from this origin only
(no inline script, no `eval`), and the one inline script they need, the prize
terminal's import map (browsers take no external import map), allowed by its
SHA-256 hash: `IMPORT_MAP` is the text the page renders, so the two cannot
drift. Styles come from this origin only too, images also from `data:` URLs
(the QR codes the API returns) and `blob:`. No page may be framed
(`frame-ancestors 'none'` and `X-Frame-Options: DENY`), nothing is
MIME-sniffed (`nosniff`, on API answers too), and no URL, with the promotion
link tokens some carry, leaves the origin as a referrer.

Swagger UI (`/docs`) and ReDoc (`/redoc`) run from this origin too (their
bundles are served from node_modules, see `routes/docs.py`), but they style
their elements inline and ReDoc starts a worker from a `blob:` URL: those
routes alone get `DOCS_POLICY`, which allows inline styles, `data:` fonts and
images and `blob:` workers, and still scripts from this origin only (they show
no participant data; the key typed into Swagger's Authorize box stays in that
page). The coupon and edition pages set `PROOF_PAGE_POLICY` themselves:
their proof check calls a chain node the person chooses, on any origin. Answers
that are not HTML (JSON, files) get `API_POLICY`, which allows nothing: a JSON
answer opened as a document runs nothing.
"""

from __future__ import annotations

import base64
import hashlib

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The prize terminal's import map: the bare module names @noble/curves imports,
#: mapped to the copies the server mounts under /vendor (see `pages.mount_static`).
IMPORT_MAP = (
    '{"imports": {'
    '"@noble/curves/secp256k1": "/vendor/noble-curves/secp256k1.js", '
    '"@noble/hashes/sha2": "/vendor/noble-hashes/sha2.js", '
    '"@noble/hashes/sha3": "/vendor/noble-hashes/sha3.js", '
    '"@noble/hashes/hmac": "/vendor/noble-hashes/hmac.js", '
    '"@noble/hashes/utils": "/vendor/noble-hashes/utils.js", '
    '"@noble/hashes/crypto": "/vendor/noble-hashes/crypto.js"}}'
)


def script_hash(text: str) -> str:
    """The CSP source that allows one inline script: `'sha256-<base64>'`."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


PAGE_POLICY = "; ".join([
    "default-src 'self'",
    f"script-src 'self' {script_hash(IMPORT_MAP)}",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
#: The coupon and edition pages check their proofs against a chain node the person
#: chooses, anywhere: their scripts may connect to any http(s) origin. They run the
#: same scripts from this origin only, and show nothing private.
PROOF_PAGE_POLICY = PAGE_POLICY.replace("connect-src 'self'", "connect-src 'self' https: http:")
DOCS_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
])
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
#: The routes of the relaxed policy.
DOCS_PATHS = frozenset({"/docs", "/redoc"})
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response (a header the
    route set itself is kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in DOCS_PATHS

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON.items():
                    headers.setdefault(name, value)
                html = headers.get("content-type", "").startswith("text/html")
                policy = DOCS_POLICY if docs else PAGE_POLICY if html else API_POLICY
                headers.setdefault("Content-Security-Policy", policy)
            await send(message)

        await self.app(scope, receive, with_headers)
