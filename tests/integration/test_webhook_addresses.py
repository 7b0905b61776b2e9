"""Webhook address policy end to end (issue 20 §3): SSRF refused when the URL is set
and at every delivery, the connection pinned to the checked address, and a delivery
log that says what happened without mapping the operator's network."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from couponchain.runtime import Runtime
from couponchain.services.marketing_webhooks import FAILURES
from couponchain.store.models import MarketingDelivery
from tests.api_auth import auth
from tests.integration.conftest import make_settings
from tests.integration.marketing_world import (
    HOUR,
    T,
    World,
    ingest_logs,
    marketing_world,
    mixed_records,
    set_rules,
    webhook_receiver,
)
from tests.ports import free_port

#: Each URL and the rule its refusal names. None of them is ever connected to.
REFUSED = [
    ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
    ("http://[::1]:8080/hook", "::1 is a loopback address"),
    ("http://0.0.0.0:8080/hook", "0.0.0.0 is an unspecified address"),
    ("http://0.1.2.3/hook", "an unspecified address"),
    ("http://[::]/hook", "an unspecified address"),
    ("http://10.0.0.5/hook", "10.0.0.5 is a private address"),
    ("http://172.16.3.4/hook", "a private address"),
    ("http://192.168.1.10:2375/hook", "a private address"),
    ("http://100.64.0.7/hook", "a shared (carrier-grade NAT) address"),
    ("http://[fd00::5]/hook", "a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://[fe80::1]/hook", "a link-local address"),
    ("http://224.0.0.1/hook", "a multicast address"),
    ("http://[ff02::1]/hook", "a multicast address"),
    ("http://240.0.0.1/hook", "a reserved address"),
    ("http://[::ffff:127.0.0.1]/hook",
     "::ffff:127.0.0.1 is an IPv6 form of 127.0.0.1, a loopback address"),
    ("http://[::ffff:169.254.169.254]/hook", "an IPv6 form of 169.254.169.254, a link-local"),
    ("http://[64:ff9b::a00:5]/hook", "an IPv6 form of 10.0.0.5, a private address"),
    ("http://[2002:a00:5::1]/hook", "an IPv6 form of 10.0.0.5, a private address"),
    # Host names, resolved by the system: /etc/hosts, and inet_aton's short forms.
    ("http://localhost:8080/hook", "localhost resolves to a loopback address"),
    ("http://127.1/hook", "127.1 resolves to a loopback address"),
    ("http://2130706433/hook", "resolves to a loopback address"),
]
#: A public address the scripted DNS gives while a URL is set; nothing connects to it.
PUBLIC = "93.184.215.14"
HOST = "hooks.merchant.test"


@pytest.fixture
async def runtime(tmp_path: Path, database_url: str, node_url: str) -> AsyncIterator[Runtime]:
    # No allow-list: the default an operator gets. Rounds are run by the tests.
    settings = make_settings(tmp_path, database_url, node_url).model_copy(update={
        "report_interval": 0.0, "webhook_retry_base": 0.05, "webhook_retry_max_delay": 0.05,
        "webhook_timeout": 1.0})
    rt = Runtime(settings)
    await rt.start()
    yield rt
    await rt.stop()


def _allow(runtime: Runtime, hosts: str) -> None:
    """The operator's allow-list as of now (read at every check)."""
    runtime.settings = runtime.settings.model_copy(update={"webhook_allow_hosts": hosts})


class ScriptedDns:
    """A resolver answering from a table the test changes: DNS that moves under the
    platform (rebinding). The guard calls it for every host name it checks."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


async def _put(client: httpx.AsyncClient, w: World, url: str) -> httpx.Response:
    return await client.put(f"/v1/merchants/{w.shop['id']}/webhook", headers=auth(w.shop),
                            json={"url": url})


async def _report(client: httpx.AsyncClient, runtime: Runtime, w: World) -> int:
    """Publish one report for the shop: its delivery is queued."""
    await set_rules(client, w, [{"indicators": ["page_views"],
                                 "condition": {"type": "periodic", "every_minutes": 60,
                                               "starts_at": T}}])
    await ingest_logs(client, w.till, mixed_records(w, 5, T))
    (report_id,) = await runtime.marketing.tick(T + HOUR + 5)
    return report_id


async def _log(client: httpx.AsyncClient, w: World, report_id: int) -> list[dict[str, object]]:
    got = await client.get(f"/v1/reports/{report_id}", headers=auth(w.shop))
    assert got.status_code == 200, got.text
    return got.json()["delivery"]["log"]  # type: ignore[no-any-return]


async def test_every_internal_address_class_is_refused_when_set(
        client: httpx.AsyncClient) -> None:
    w = await marketing_world(client)
    for url, rule in REFUSED:
        put = await _put(client, w, url)
        assert put.status_code == 422, (url, put.text)
        problem = put.json()
        assert problem["field"] == "url", url
        assert rule in problem["detail"] and "public addresses only" in problem["detail"], \
            (url, problem["detail"])
    unknown = await _put(client, w, "https://no-such-host.invalid/hook")
    assert unknown.status_code == 422 and unknown.json()["field"] == "url"
    assert "does not resolve" in unknown.json()["detail"]
    for url in ("ftp://example.org/hook", "http:///hook"):
        bad = await _put(client, w, url)
        assert bad.status_code == 422 and bad.json()["field"] == "url", url


async def test_the_operators_allow_list_admits_its_own_receivers(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await marketing_world(client)
    _allow(runtime, "localhost, 10.0.0.0/8, ::1")
    for url in ("http://localhost:8080/hook", "http://10.0.0.5/hook", "http://[::1]/hook"):
        put = await _put(client, w, url)
        assert put.status_code == 200, (url, put.text)
    for url in ("http://127.0.0.1:8080/hook", "http://192.168.1.10/hook"):  # not listed
        assert (await _put(client, w, url)).status_code == 422, url


async def test_a_host_that_turns_private_after_it_was_set_is_refused_at_delivery(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    dns = ScriptedDns()
    runtime.marketing.webhooks.guard.resolver = dns
    w = await marketing_world(client)
    port = free_port()
    dns.answers[HOST] = [PUBLIC]
    assert (await _put(client, w, f"http://{HOST}:{port}/hook")).status_code == 200
    report_id = await _report(client, runtime, w)
    # The name now points at the operator's loopback, where a receiver listens.
    dns.answers[HOST] = [PUBLIC, "127.0.0.1"]
    got: list[tuple[bytes, dict[str, str]]] = []
    server = await webhook_receiver(port, got)
    try:
        assert await runtime.marketing.webhooks.deliver_due() == 0
    finally:
        server.should_exit = True
        await server.task  # type: ignore[attr-defined]
    assert got == []
    assert dns.asked.count(HOST) == 2  # at the PUT and again at the delivery
    (entry,) = await _log(client, w, report_id)
    assert entry["status_code"] is None and entry["error"] == "refused by address policy"


async def test_delivery_connects_to_the_checked_address_with_the_hosts_name(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    # The system resolver knows nothing of HOST: only a connection to the address the
    # guard checked can reach the receiver, and it must still say whom it is for.
    dns = ScriptedDns()
    runtime.marketing.webhooks.guard.resolver = dns
    _allow(runtime, "127.0.0.0/8")
    dns.answers[HOST] = ["127.0.0.1"]
    w = await marketing_world(client)
    port = free_port()
    assert (await _put(client, w, f"http://{HOST}:{port}/hook")).status_code == 200
    report_id = await _report(client, runtime, w)
    got: list[tuple[bytes, dict[str, str]]] = []
    server = await webhook_receiver(port, got)
    try:
        assert await runtime.marketing.webhooks.deliver_due() == 1
    finally:
        server.should_exit = True
        await server.task  # type: ignore[attr-defined]
    (received,) = got
    assert received[1]["host"] == f"{HOST}:{port}"
    assert received[1]["x-couponchain-report"] == str(report_id)
    (entry,) = await _log(client, w, report_id)
    assert entry == {**entry, "status_code": 204, "error": None}


async def test_an_allow_list_entry_removed_stops_deliveries_at_once(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    _allow(runtime, "127.0.0.1")
    w = await marketing_world(client)
    port = free_port()
    assert (await _put(client, w, f"http://127.0.0.1:{port}/hook")).status_code == 200
    report_id = await _report(client, runtime, w)
    _allow(runtime, "")
    got: list[tuple[bytes, dict[str, str]]] = []
    server = await webhook_receiver(port, got)
    try:
        assert await runtime.marketing.webhooks.deliver_due() == 0
    finally:
        server.should_exit = True
        await server.task  # type: ignore[attr-defined]
    assert got == []
    (entry,) = await _log(client, w, report_id)
    assert entry["error"] == "refused by address policy"


async def test_the_delivery_log_names_a_class_never_the_network_detail(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    _allow(runtime, "127.0.0.1")
    w = await marketing_world(client)
    # A closed port, then one that accepts connections and never answers.
    closed = free_port()
    assert (await _put(client, w, f"http://127.0.0.1:{closed}/hook")).status_code == 200
    report_id = await _report(client, runtime, w)
    assert await runtime.marketing.webhooks.deliver_due() == 0
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        assert (await _put(client, w, f"http://127.0.0.1:{port}/hook")).status_code == 200
        await asyncio.sleep(0.1)  # past the retry backoff
        assert await runtime.marketing.webhooks.deliver_due() == 0
    log = await _log(client, w, report_id)
    assert [e["error"] for e in log] == ["connection failed", "timed out"]
    for entry in log:
        assert entry["status_code"] is None and entry["error"] in FAILURES
    # An entry written before the policy (with the errno text) reads as a class too.
    async with runtime.db.transaction() as s:
        row = (await s.execute(select(MarketingDelivery).where(
            MarketingDelivery.report_id == report_id))).scalar_one()
        row.log = [*row.log, {"at": T, "url": "http://10.0.0.5:6379/", "status_code": None,
                              "error": "ConnectError: [Errno 111] Connection refused"}]
    assert (await _log(client, w, report_id))[-1]["error"] == "connection failed"
