"""The API's interactive documentation, served whole by the platform (no CDN).

`/docs` is Swagger UI and `/redoc` ReDoc, both from the npm packages the set-up
installs beside the node (`swagger-ui-dist`, `redoc`), mounted under /vendor by
`pages.mount_static`; each page starts its viewer from a script of this origin
(`static/docs-swagger.js`, `static/docs-redoc.js`), so neither needs an inline
script, and both work with the network cut off.
"""

from __future__ import annotations

from functools import cache
from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from couponchain.api.bounds import bounded_router
from couponchain.chain.node import node_dir
from couponchain.errors import NotFound

router = bounded_router(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  {head}
</head>
<body>
  <div id="{root}" data-openapi="{openapi}"></div>
  {scripts}
</body>
</html>
"""


def _page(title: str, root: str, openapi: str, head: str, scripts: list[str]) -> HTMLResponse:
    tags = "\n  ".join(f'<script src="{src}"></script>' for src in scripts)
    return HTMLResponse(_PAGE.format(title=escape(title), root=root, openapi=escape(openapi),
                                     head=head, scripts=tags))


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over the OpenAPI document: try every operation, "Authorize" with a key."""
    return _page(f"{request.app.title} API · Swagger UI", "swagger-ui", request.app.openapi_url,
                 '<link rel="stylesheet" href="/vendor/swagger-ui/swagger-ui.css">\n  '
                 '<link rel="icon" href="/vendor/swagger-ui/favicon-32x32.png">',
                 ["/vendor/swagger-ui/swagger-ui-bundle.js", "/static/docs-swagger.js"])


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc over the OpenAPI document: the reference to read."""
    return _page(f"{request.app.title} API · ReDoc", "redoc", request.app.openapi_url, "",
                 [REDOC_BUNDLE, "/static/docs-redoc.js"])


#: Where /redoc loads ReDoc from, and the one URL outside this origin its bundle
#: fetches by itself: the logo beside "API docs by Redocly", drawn unconditionally.
REDOC_BUNDLE = "/redoc/redoc.standalone.js"
REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
#: An empty image in its place: no request leaves the origin, none breaks the policy.
BLANK_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


@cache
def redoc_bundle() -> bytes:
    """redoc.standalone.js from node_modules with `REDOC_LOGO` replaced by `BLANK_IMAGE`."""
    path = node_dir() / "node_modules" / "redoc" / "bundles" / "redoc.standalone.js"
    return path.read_bytes().replace(REDOC_LOGO, BLANK_IMAGE)


@router.get(REDOC_BUNDLE)
async def redoc_script() -> Response:
    """ReDoc's bundle, kept from calling its CDN (see `redoc_bundle`)."""
    try:
        body = redoc_bundle()
    except FileNotFoundError:
        raise NotFound("ReDoc is not installed: run scripts/setup", field="redoc") from None
    return Response(body, media_type="text/javascript; charset=utf-8",
                    headers={"cache-control": "public, max-age=3600"})
