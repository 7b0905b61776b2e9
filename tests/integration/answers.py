"""API calls a test expects to succeed (`made`) or to be refused by a rule (`refused`), as
the platform's administrator or a participant: what the console tests share."""

from __future__ import annotations

from typing import Any

import httpx

ADMIN = {"authorization": "Bearer test-admin-key"}


CCC = 1_000_000


async def made(client: httpx.AsyncClient, path: str, body: dict[str, Any],
               headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    answer = await client.post(path, json=body, headers=headers)
    assert answer.is_success, f"{path}: {answer.status_code} {answer.text}"
    return answer.json()  # type: ignore[no-any-return]


def refused(answer: httpx.Response, status: int, field: str | None, rule: str = "") -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem.get("field") == field, problem
    assert rule in problem["detail"], problem
