"""The OpenAPI document as /docs and /redoc show it (issue 25): the API key is a
security scheme on exactly the operations that need a key, and each example body is
one the operation's own request model accepts."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from couponchain.api.app import create_app
from couponchain.api.openapi_extras import EXAMPLES, SCHEME, missing_examples
from couponchain.runtime import Runtime
from tests.integration.conftest import make_settings

ADMIN = {"authorization": "Bearer test-admin-key"}


def _app(tmp_path: Path) -> tuple[FastAPI, dict[str, APIRoute]]:
    runtime = Runtime(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
                                    "http://127.0.0.1:9"))
    app = create_app(runtime, manage_runtime=False)
    routers = [getattr(r, "original_router", r) for r in app.routes]
    routes = {f"{method} {route.path}": route
              for router in routers for route in getattr(router, "routes", [router])
              if isinstance(route, APIRoute) for method in route.methods}
    return app, routes


def test_the_examples_are_bodies_their_operations_accept(tmp_path: Path) -> None:
    app, routes = _app(tmp_path)
    document = app.openapi()
    assert missing_examples(document) == []
    assert len(EXAMPLES) >= 12
    for name, (_, body) in EXAMPLES.items():
        route = routes[name]
        assert route.body_field is not None, name
        model = route.body_field.field_info.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel), name
        model.model_validate(body)  # raises, naming the field, on a stale example
        method, path = name.split(" ", 1)
        media = document["paths"][path][method.lower()]["requestBody"]["content"]
        assert media["application/json"]["examples"]["example"]["value"] == body


def test_authorize_covers_every_operation_that_takes_a_key(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    document = app.openapi()
    assert document["components"]["securitySchemes"][SCHEME]["scheme"] == "bearer"
    secured, public = [], []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            names = [p["name"].lower() for p in operation.get("parameters", [])]
            assert "authorization" not in names, (method, path)  # OpenAPI ignores it
            (secured if operation.get("security") else public).append(f"{method} {path}")
    assert "post /v1/editions" in secured and "get /v1/participants/me" in secured
    assert "get /v1/health" in public and "get /v1/coupons/{serial}" in public
    assert len(secured) > 60


async def test_a_secured_operation_still_refuses_a_call_without_the_key(
        runtime: Runtime) -> None:
    """The scheme only documents the header: the API checks it as before."""
    app = create_app(runtime, manage_runtime=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        assert (await client.get("/v1/participants/me")).status_code == 401
        answer = await client.get("/v1/participants/me", headers=ADMIN)
        assert answer.status_code == 200 and answer.json()["role"] == "platform"
