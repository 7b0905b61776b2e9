"""The device key page (/keys/device): a consumer's own key, made and kept in its browser.

The page (static/device-key-page.js with static/device-key.js) generates the key,
keeps it encrypted with a passphrase, exports and imports a backup, and
registers the address; the private key never leaves the browser.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from couponchain.api.bounds import bounded_router
from couponchain.api.routes.pages import templates
from couponchain.api.security_headers import IMPORT_MAP

router = bounded_router(include_in_schema=False)


@router.get("/keys/device", response_class=HTMLResponse)
async def device_key_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "device_key.html", {"importmap": IMPORT_MAP})
