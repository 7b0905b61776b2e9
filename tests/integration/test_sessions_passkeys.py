"""Accounts for people (issue 24): passkey sign-up and sign-in, the ceremonies'
refusals, recovery codes, page sessions and their CSRF defences, invitations.

Every answer comes from a software authenticator holding a real P-256 key
(session_authenticator.py), checked by py_webauthn against the challenge the
server stored; the participants are registered on the embedded node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from couponchain.api.app import create_app
from couponchain.domain.roles import Role
from couponchain.runtime import Runtime
from couponchain.store.models import WebauthnChallenge, utcnow
from tests.integration.session_authenticator import SoftAuthenticator, other_challenge

ORIGIN = "http://test"


@pytest.fixture
async def browser(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    """A client without an API key, keeping cookies like a browser, sending its Origin."""
    transport = httpx.ASGITransport(app=create_app(runtime, manage_runtime=False))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN,
                                 headers={"origin": ORIGIN}) as c:
        yield c


async def sign_up(c: httpx.AsyncClient, key: SoftAuthenticator, name: str = "Mei",
                  **begin: Any) -> httpx.Response:
    opened = await c.post("/v1/accounts/sign-up/options", json={"name": name, **begin})
    assert opened.status_code == 200, opened.text
    body = opened.json()
    return await c.post("/v1/accounts/sign-up", json={
        "ceremony": body["ceremony"], "credential": key.create(body["options"]),
        "device": "test phone"})


async def sign_in(c: httpx.AsyncClient, key: SoftAuthenticator, **answer: Any) -> httpx.Response:
    opened = (await c.post("/v1/accounts/sign-in/options")).json()
    return await c.post("/v1/accounts/sign-in", json={
        "ceremony": opened["ceremony"], "credential": key.get(opened["options"], **answer)})


def csrf(c: httpx.AsyncClient) -> dict[str, str]:
    return {"x-csrf-token": c.cookies["cc_csrf"]}


def problem(response: httpx.Response, status: int, field: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["field"] == field, body
    return body


async def test_a_consumer_signs_up_signs_out_and_signs_in_with_a_passkey(
        runtime: Runtime, browser: httpx.AsyncClient) -> None:
    key = SoftAuthenticator(ORIGIN)
    made = await sign_up(browser, key)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["participant"]["role"] == "consumer" and body["participant"]["name"] == "Mei"
    codes = body["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    cookies = made.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("cc_session="))
    assert "HttpOnly" in session and "SameSite=lax" in session and "Secure" not in session
    assert any(c.startswith("cc_csrf=") and "HttpOnly" not in c for c in cookies)

    # The same caller an API key gives: registered on chain, with no usable API key.
    me = (await browser.get("/v1/participants/me")).json()
    assert me["id"] == body["participant"]["id"] and me["role"] == "consumer"
    record = await runtime.participants.on_chain(me["address"])
    assert record is not None and record.role == int(Role.CONSUMER)
    assert all(k.revoked_at is not None for k in await runtime.credentials.list(me["id"]))
    account = (await browser.get("/v1/accounts/me")).json()
    assert [p["name"] for p in account["passkeys"]] == ["test phone"]
    assert account["recovery_codes_left"] == 10
    assert [s["current"] for s in account["sessions"]] == [True]

    assert (await browser.delete("/v1/sessions/current", headers=csrf(browser))).status_code == 204
    browser.cookies.clear()
    assert (await browser.get("/v1/participants/me")).status_code == 401

    again = await sign_in(browser, key)
    assert again.status_code == 200, again.text
    assert again.json()["participant"]["id"] == me["id"]
    assert (await browser.get("/v1/participants/me")).json()["id"] == me["id"]
    # A write through the cookie, with its CSRF token, from the platform's origin.
    made_key = await browser.post("/v1/api-keys", json={"name": "export"}, headers=csrf(browser))
    assert made_key.status_code == 201, made_key.text


async def test_ceremonies_refuse_bad_replayed_foreign_and_expired_answers(
        runtime: Runtime, browser: httpx.AsyncClient) -> None:
    # Sign-up: a challenge the server never issued; another site's origin; another site's id.
    for answer, field in (({"challenge": other_challenge()}, "credential"),
                          ({"origin": "https://evil.example"}, "credential"),
                          ({"rp_id": "evil.example"}, "credential")):
        opened = (await browser.post("/v1/accounts/sign-up/options", json={"name": "X"})).json()
        refused = await browser.post("/v1/accounts/sign-up", json={
            "ceremony": opened["ceremony"],
            "credential": SoftAuthenticator(ORIGIN).create(opened["options"], **answer)})
        problem(refused, 422, field)
    key = SoftAuthenticator(ORIGIN)
    opened = (await browser.post("/v1/accounts/sign-up/options", json={"name": "Li"})).json()
    answer = {"ceremony": opened["ceremony"], "credential": key.create(opened["options"])}
    assert (await browser.post("/v1/accounts/sign-up", json=answer)).status_code == 201
    replayed = await browser.post("/v1/accounts/sign-up", json=answer)
    assert "already used" in problem(replayed, 422, "ceremony")["detail"]
    # The same passkey again, in a new ceremony: refused (the authenticator keeps the first).
    handle = key.user_handle
    again = await sign_up(browser, key, name="Li 2")
    problem(again, 422, "credential")
    key.user_handle = handle

    # Sign-in: a replayed answer; an expired ceremony; another origin; an unknown passkey;
    # a counter that did not move on (a cloned authenticator); a ceremony never begun.
    opened = (await browser.post("/v1/accounts/sign-in/options")).json()
    answer = {"ceremony": opened["ceremony"], "credential": key.get(opened["options"])}
    assert (await browser.post("/v1/accounts/sign-in", json=answer)).status_code == 200
    problem(await browser.post("/v1/accounts/sign-in", json=answer), 422, "ceremony")
    opened = (await browser.post("/v1/accounts/sign-in/options")).json()
    await runtime.db.write(lambda s: s.execute(update(WebauthnChallenge).where(
        WebauthnChallenge.id == opened["ceremony"]).values(
            expires_at=utcnow() - timedelta(seconds=1))))
    late = await browser.post("/v1/accounts/sign-in", json={
        "ceremony": opened["ceremony"], "credential": key.get(opened["options"])})
    assert "expired" in problem(late, 422, "ceremony")["detail"]
    problem(await sign_in(browser, key, origin="https://evil.example"), 401, "credential")
    problem(await sign_in(browser, key, challenge=other_challenge()), 401, "credential")
    problem(await sign_in(browser, SoftAuthenticator(ORIGIN)), 401, "credential")
    problem(await sign_in(browser, key, counter=1), 401, "credential")
    problem(await browser.post("/v1/accounts/sign-in", json={
        "ceremony": "0" * 32, "credential": {"id": "x"}}), 422, "ceremony")
    assert (await sign_in(browser, key)).status_code == 200  # the passkey still works


async def test_cross_site_writes_are_refused_and_api_keys_work_as_before(
        runtime: Runtime, browser: httpx.AsyncClient) -> None:
    assert (await sign_up(browser, SoftAuthenticator(ORIGIN))).status_code == 201
    write = {"json": {"name": "from a page"}}
    problem(await browser.post("/v1/api-keys", **write), 403, "X-CSRF-Token")
    problem(await browser.post("/v1/api-keys", headers={**csrf(browser),
            "origin": "https://evil.example"}, **write), 403, "Origin")
    problem(await browser.post("/v1/api-keys", headers={**csrf(browser),
            "sec-fetch-site": "cross-site"}, **write), 403, "Origin")
    problem(await browser.post("/v1/accounts/sign-in/options",
                               headers={"origin": "https://evil.example"}), 403, "Origin")
    problem(await browser.post("/v1/accounts/recover", json={"code": "AAAA-BBBB-CCCC-DDDD"},
                               headers={"origin": "https://evil.example"}), 403, "Origin")
    ok = await browser.post("/v1/api-keys", headers=csrf(browser), **write)
    assert ok.status_code == 201, ok.text
    # A machine with an API key sends no cookie and no CSRF token: as before.
    machine = await browser.post("/v1/consumers", json={"name": "by key"}, headers={
        "authorization": "Bearer test-admin-key", "origin": "https://elsewhere.example"},
        cookies={})
    assert machine.status_code == 201, machine.text


async def test_recovery_codes_sign_in_once_and_a_new_passkey_is_added(
        runtime: Runtime, browser: httpx.AsyncClient) -> None:
    made = (await sign_up(browser, SoftAuthenticator(ORIGIN), name="Wu")).json()
    codes = made["recovery_codes"]
    browser.cookies.clear()
    recovered = await browser.post("/v1/accounts/recover", json={"code": codes[0].lower()})
    assert recovered.status_code == 200, recovered.text
    assert recovered.json()["participant"]["id"] == made["participant"]["id"]
    problem(await browser.post("/v1/accounts/recover", json={"code": codes[0]}), 401, "code")
    new_key = SoftAuthenticator(ORIGIN)
    opened = (await browser.post("/v1/accounts/me/passkeys/options", json={"name": "new phone"},
                                 headers=csrf(browser))).json()
    added = await browser.post("/v1/accounts/me/passkeys", headers=csrf(browser), json={
        "ceremony": opened["ceremony"], "credential": new_key.create(opened["options"])})
    assert added.status_code == 201, added.text
    fresh = (await browser.post("/v1/accounts/me/recovery-codes", headers=csrf(browser))).json()
    problem(await browser.post("/v1/accounts/recover", json={"code": codes[1]}), 401, "code")
    account = (await browser.get("/v1/accounts/me")).json()
    assert account["recovery_codes_left"] == 10 and len(account["passkeys"]) == 2
    browser.cookies.clear()
    signed = await sign_in(browser, new_key)
    assert signed.json()["participant"]["id"] == made["participant"]["id"]
    assert (await browser.post("/v1/accounts/recover",
                               json={"code": fresh["recovery_codes"][0]})).status_code == 200
    # Sessions: another browser's session is signed out from here.
    account = (await browser.get("/v1/accounts/me")).json()
    other = next(s for s in account["sessions"] if not s["current"])
    assert (await browser.delete(f"/v1/accounts/me/sessions/{other['id']}",
                                 headers=csrf(browser))).status_code == 204
    problem(await browser.delete(f"/v1/accounts/me/sessions/{other['id']}",
                                 headers=csrf(browser)), 404, "session_id")


async def test_a_merchant_invites_a_terminal_and_staff_by_one_time_links(
        runtime: Runtime, client: httpx.AsyncClient, browser: httpx.AsyncClient) -> None:
    shop = (await client.post("/v1/merchants", json={"name": "Tea House"})).json()
    other = (await client.post("/v1/merchants", json={"name": "Noodle Bar"})).json()
    as_shop = {"authorization": f"Bearer {shop['api_key']}"}
    till = await client.post("/v1/invitations", json={"kind": "terminal", "name": "Till 3"},
                             headers=as_shop)
    assert till.status_code == 201, till.text
    token = till.json()["url"].rsplit("/join/", 1)[1]
    assert till.json()["url"].startswith(ORIGIN + "/join/")
    brief = (await browser.get(f"/v1/invitations/{token}")).json()
    assert brief == {"kind": "terminal", "name": "Till 3", "merchant_name": "Tea House",
                     "state": "open"}
    joined = await sign_up(browser, SoftAuthenticator(ORIGIN), name="Till 3", invitation=token)
    assert joined.status_code == 201, joined.text
    me = (await browser.get("/v1/participants/me")).json()
    assert me["role"] == "terminal" and me["merchant_id"] == shop["id"]
    assert len(joined.json()["recovery_codes"]) == 10
    problem(await browser.post("/v1/accounts/sign-up/options", json={"invitation": token}),
            422, "invitation")  # the link works once
    listed = (await client.get("/v1/invitations", headers=as_shop)).json()["items"]
    assert [(i["state"], i["participant_id"]) for i in listed] == [("used", me["id"])]

    staff = (await client.post("/v1/invitations", json={"kind": "staff", "name": "Ana"},
                               headers=as_shop)).json()
    browser.cookies.clear()
    member = await sign_up(browser, SoftAuthenticator(ORIGIN), name="Ana",
                           invitation=staff["url"].rsplit("/join/", 1)[1])
    assert member.status_code == 201 and member.json()["recovery_codes"] is None
    assert (await browser.get("/v1/participants/me")).json()["id"] == shop["id"]

    spare = (await client.post("/v1/invitations", json={"kind": "staff", "name": "Bo"},
                               headers=as_shop)).json()
    problem(await client.delete(f"/v1/invitations/{spare['id']}",
                                headers={"authorization": f"Bearer {other['api_key']}"}),
            404, "invitation_id")
    assert (await client.delete(f"/v1/invitations/{spare['id']}",
                                headers=as_shop)).json()["state"] == "revoked"
    problem(await browser.post("/v1/accounts/sign-up/options", json={
        "invitation": spare["url"].rsplit("/join/", 1)[1]}), 422, "invitation")
    platform = await client.post("/v1/invitations", json={"kind": "staff", "name": "Cy"})
    assert platform.status_code == 403  # only a merchant invites
    problem(await client.post("/v1/invitations", json={"kind": "boss", "name": "Cy"},
                              headers=as_shop), 422, "kind")
