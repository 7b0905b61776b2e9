"""Secrets: no raw IP, private key, API key or master secret in logs, responses or the database.

A representative workload runs through the API (participants, an edition sale,
access logs with known raw visitor IPs, promotion consent codes and a
write-off, prize codes with a scan and a claim, a promotion link, a webhook
secret, idempotent retries and refused requests) from a client with a known
IP address. Everything the platform wrote is then scanned for every secret the
test knows:

- the API's log lines, captured in the JSON format (`COUPONCHAIN_LOG_FORMAT=json`:
  `JsonFormatter` with `RequestIdFilter`, at DEBUG for every logger);
- every response, headers and body;
- a dump of every table of the database (bytes as hex and as text), and the
  database file itself (SQLite) for anything left in free pages.

The only places a secret may appear: a participant's API key in the response
that created it (shown once; an idempotent retry of the creation shows it again), an
extra API key in the response that made it, a page session's token in the response
that set its cookie, and a webhook secret in the response that set it. The stable
platform secrets (visitor pseudonym key, prize-code key) appear only encrypted.
Checked on SQLite, and on PostgreSQL when `scripts/test` provides one.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import inspect, text

from couponchain.api.app import create_app
from couponchain.api.limits import JsonFormatter, RequestIdFilter
from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.conftest import MASTER, make_settings

ADMIN_KEY = "test-admin-key"
#: The caller's own address (the ASGI client), and the visitors' raw IPs.
CLIENT_IP = "192.0.2.99"
VISITOR_IPS = ["198.51.100.23", "2001:db8:85a3::8a2e:370:7334", "::ffff:203.0.113.44",
               "203.0.113.45", "198.51.100.200"]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


@dataclass
class Needle:
    """A secret to look for; `allowed_in` names the responses that may show it."""

    what: str
    value: str
    case_sensitive: bool = True
    allowed_in: set[int] = field(default_factory=set)


@dataclass
class Capture:
    """What the platform said: log lines and responses (index -> text)."""

    log: io.StringIO = field(default_factory=io.StringIO)
    responses: list[str] = field(default_factory=list)


@contextmanager
def json_logs(into: io.StringIO) -> Iterator[None]:
    """Every log record, of every logger, as the CLI writes it with COUPONCHAIN_LOG_FORMAT=json."""
    handler = logging.StreamHandler(into)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def ip_forms(ip: str) -> set[str]:
    """The textual and packed (hex) forms an address could be written in."""
    address = ipaddress.ip_address(ip)
    forms = {ip, address.compressed, address.exploded, address.packed.hex()}
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        inner = address.ipv4_mapped
        forms |= {inner.compressed, inner.packed.hex()}
    return forms


def derived(purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=purpose).derive(MASTER.encode())


def render(value: Any) -> str:
    """A cell as text a scan can search: bytes as hex and as Latin-1 text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        return raw.hex() + " " + raw.decode("latin-1")
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


async def dump_tables(runtime: Runtime) -> dict[str, str]:
    """Every table of the database, each as one text of all its rows."""
    async with runtime.db.engine.connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        out: dict[str, str] = {}
        for name in names:
            rows = (await conn.execute(text(f'SELECT * FROM "{name}"'))).all()
            out[name] = "\n".join(" | ".join(render(v) for v in row) for row in rows)
    return out


def dump_files(data_dir: Path) -> dict[str, str]:
    """Every file the platform keeps beside the database (e.g. the access-log
    Parquet files), each as text: Parquet files row by row, others as bytes."""
    out: dict[str, str] = {}
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        name = str(path.relative_to(data_dir))
        if name.startswith("node") or path.name.startswith("couponchain.db"):
            continue  # a chain node's own data; the database is dumped by table
        if path.suffix == ".parquet":
            table = pq.read_table(path).to_pylist()
            out[name] = "\n".join(" | ".join(render(v) for v in row.values()) for row in table)
        else:
            out[name] = path.read_bytes().decode("latin-1")
    return out


def find(needles: list[Needle], where: str, haystack: str,
         response_index: int | None = None) -> list[str]:
    lowered = haystack.lower()
    found = []
    for needle in needles:
        if response_index is not None and response_index in needle.allowed_in:
            continue
        hit = needle.value in haystack if needle.case_sensitive \
            else needle.value.lower() in lowered
        if hit:
            found.append(f"{needle.what} in {where}")
    return found


async def test_no_secret_in_logs_responses_or_database(
        tmp_path: Path, database_url: str, node_url: str) -> None:
    seen = Capture()
    settings = make_settings(tmp_path, database_url, node_url).model_copy(
        update={"webhook_allow_hosts": "127.0.0.1"})  # the webhook is set to a local port
    runtime = Runtime(settings)
    with json_logs(seen.log):
        await runtime.start()
        try:
            app = create_app(runtime, manage_runtime=False)

            async def keep(response: httpx.Response) -> None:
                await response.aread()
                request = response.request
                seen.responses.append(
                    f"{request.method} {request.url} -> {response.status_code}\n"
                    + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
                    + "\n" + response.text)

            transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 50_123))
            async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                         event_hooks={"response": [keep]},
                                         timeout=60) as api:
                made = await _workload(api, runtime)
            tables = await dump_tables(runtime)
            keys = {pid: (await runtime.participants.signer(pid)).key
                    for pid in made["participants"]}
            code_key = runtime.prizes.code_signer.key
            visitor_key = runtime.marketing.key
        finally:
            await runtime.stop()

    needles: list[Needle] = [
        Needle("the master secret", MASTER),
        Needle("the platform's API key (admin key)", ADMIN_KEY),
        Needle("the prize-code signing key", code_key.hex(), case_sensitive=False),
        Needle("the visitor pseudonym key", visitor_key.hex(), case_sensitive=False),
        Needle("the visitor pseudonym key (base64)",
               base64.urlsafe_b64encode(visitor_key).decode().rstrip("=")),
    ]
    for what, secret, shown_in in made["credentials"]:
        assert secret in seen.responses[shown_in], what  # the scan sees it where shown
        needles.append(Needle(what, secret, allowed_in={shown_in}))
        needles.append(Needle(f"the secret part of {what}", secret.split("_", 2)[2],
                              allowed_in={shown_in}))
    for purpose in (b"chain-keys", b"api-keys", b"data", b"access-log-visitors",
                    b"prize-code-key"):
        secret = derived(purpose)
        needles += [Needle(f"the {purpose.decode()} key derived from the master secret",
                           secret.hex(), case_sensitive=False),
                    Needle(f"the {purpose.decode()} key (base64)",
                           base64.urlsafe_b64encode(secret).decode().rstrip("="))]
    for pid, key in keys.items():
        name = made["participants"][pid]["name"]
        needles.append(Needle(f"{name}'s private key", key.hex(), case_sensitive=False))
        needles.append(Needle(f"{name}'s private key (0x)", "0x" + key.hex(),
                              case_sensitive=False))
        api_key = made["participants"][pid]["api_key"]
        if api_key == ADMIN_KEY:
            continue  # the platform signs in with the admin key (a needle above)
        prefix, _key_id, secret_part = api_key.split("_", 2)
        assert prefix == "cc" and len(secret_part) >= 43  # 32 random bytes
        shown = made["participants"][pid]["shown_in"]
        # A positive control: the scan does see the key where it is shown.
        assert shown and all(api_key in seen.responses[i] for i in shown), name
        needles.append(Needle(f"{name}'s API key", api_key, allowed_in=shown))
        needles.append(Needle(f"the secret part of {name}'s API key", secret_part,
                              allowed_in=shown))
    assert made["webhook_secret"] in seen.responses[made["webhook_shown_in"]]
    needles.append(Needle("the webhook secret", made["webhook_secret"],
                          allowed_in={made["webhook_shown_in"]}))
    for ip in [CLIENT_IP, *VISITOR_IPS, made["refused_ip"]]:
        for form in sorted(ip_forms(ip)):
            needles.append(Needle(f"raw IP {ip} (as {form!r})", form, case_sensitive=False))

    leaks: list[str] = []
    log_text = seen.log.getvalue()
    lines = [line for line in log_text.splitlines() if line.strip()]
    assert lines, "nothing was logged: the capture is not working"
    for n, line in enumerate(lines):
        entry = json.loads(line)  # every line is one JSON object with a request id
        assert {"ts", "level", "logger", "request_id", "message"} <= entry.keys(), line
        leaks += find(needles, f"log line {n} ({entry['logger']})", line)
    assert len(seen.responses) >= 40, "the workload did not run"
    for n, response in enumerate(seen.responses):
        leaks += find(needles, f"response {n} ({response.splitlines()[0]})", response, n)
    for name, rows in tables.items():
        leaks += find(needles, f"table {name}", rows)
    assert tables.get("participants"), sorted(tables)
    files = dump_files(settings.data_dir)
    for name, content in files.items():
        leaks += find(needles, f"file {name}", content)
    stored = tables.get("access_logs", "").count("\n") + 1 if tables.get("access_logs") else 0
    stored += sum(c.count("\n") + 1 for n, c in files.items() if n.endswith(".parquet"))
    assert stored >= len(VISITOR_IPS), "the access-log records were not found to scan"
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])
        for file in [path, *path.parent.glob(path.name + "-*")]:
            raw = file.read_bytes()
            leaks += find(needles, f"file {file.name}", raw.decode("latin-1"))
            for pid, key in keys.items():
                if bytes(key) in raw:
                    leaks.append(f"{made['participants'][pid]['name']}'s private key (raw "
                                 f"bytes) in file {file.name}")
            for ip in [CLIENT_IP, *VISITOR_IPS, made["refused_ip"]]:
                if ipaddress.ip_address(ip).packed in raw:
                    leaks.append(f"raw IP {ip} (packed) in file {file.name}")
    assert not leaks, "secrets found in clear:\n  " + "\n  ".join(sorted(set(leaks)))


async def _workload(api: httpx.AsyncClient, runtime: Runtime) -> dict[str, Any]:
    """Every capability once or more; returns the participants and the secrets shown."""
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    participants: dict[str, dict[str, Any]] = {}

    async def create(path: str, name: str, by: dict[str, str],
                     retried_with: str | None = None) -> dict[str, Any]:
        """A participant; with an idempotency key, created and then retried (the stored
        response, which repeats the new key, is kept encrypted)."""
        shown: set[int] = set()
        for _ in range(2 if retried_with else 1):
            headers = by | ({"idempotency-key": retried_with} if retried_with else {})
            answer = await api.post(path, json={"name": name}, headers=headers)
            assert answer.status_code == 201, answer.text
            shown.add(responses_seen[0] - 1)
        body = answer.json()
        participants[body["id"]] = {"name": name, "api_key": body["api_key"],
                                    "shown_in": shown}
        return body  # type: ignore[no-any-return]

    responses_seen = [0]  # the index of the next response in the capture

    async def count(_response: httpx.Response) -> None:
        responses_seen[0] += 1

    api.event_hooks["response"].append(count)

    platform = runtime.platform.caller
    participants[platform.id] = {"name": "Platform", "api_key": ADMIN_KEY, "shown_in": set()}
    shop = await create("/v1/merchants", "Tea House", admin, retried_with="shop-1")
    rival = await create("/v1/merchants", "Noodle Bar", admin)
    till = await create("/v1/terminals", "Till", auth(shop), retried_with="till-1")
    ann = await create("/v1/consumers", "Ann", admin)
    bob = await create("/v1/consumers", "Bob", auth(shop))
    for who in (shop, ann, bob):
        credit = await api.post("/v1/credits", json={"to": who["id"], "amount": 50_000_000},
                                headers=admin)
        assert credit.status_code == 201, credit.text
    capped = await api.put(f"/v1/merchants/{shop['id']}/incentive-cap",
                           json={"cap": 50_000_000}, headers=auth(shop))
    assert capped.status_code == 200, capped.text

    # An edition: a sale by the terminal, a transfer, a redemption, an idempotent retry.
    now = time.time()
    edition = await api.post("/v1/editions", headers=auth(shop), json={
        "brand": "Tea", "title": "Spring", "terms": "One cup.", "prefix": "SECRET",
        "total_pieces": 10, "price": 100, "valid_from": iso(now - 60),
        "valid_until": iso(now + 86_400)})
    assert edition.status_code == 201, edition.text
    sale_body = {"buyer": ann["id"], "order_ref": "order-1"}
    for _ in range(2):
        sale = await api.post(f"/v1/editions/{edition.json()['id']}/sales", json=sale_body,
                              headers=auth(till) | {"idempotency-key": "sale-1"})
        assert sale.status_code == 201, sale.text
    serial = sale.json()["coupon"]["serial"]
    moved = await api.post(f"/v1/coupons/{serial}/transfer", json={"to": bob["id"]},
                           headers=auth(ann))
    assert moved.status_code == 200, moved.text
    redeemed = await api.post(f"/v1/coupons/{serial}/redeem", headers=auth(till))
    assert redeemed.status_code == 200, redeemed.text
    assert (await api.get(f"/v1/coupons/{serial}")).status_code == 200

    # Access logs with known raw IPs; a refused batch; the proof of a record.
    rules = (await api.get(f"/v1/merchants/{shop['id']}/reporting-rules")).json()
    number = rules["merchant_number"]
    records = [{"ip": ip, "account": "", "time": int(now) - 120 + i, "merchant": number,
                "method": "app", "operation": "view"} for i, ip in enumerate(VISITOR_IPS)]
    anchored = await api.post("/v1/access-logs", json={"records": records},
                              headers=auth(till) | {"idempotency-key": "logs-1"})
    assert anchored.status_code == 201, anchored.text
    proof = await api.get(f"/v1/access-logs/{anchored.json()['batch_id']}/proof/0")
    assert proof.status_code == 200, proof.text
    refused_ip = "198.51.100.77"
    bad = [{**records[0], "ip": refused_ip}, {**records[1], "method": "telegraph"}]
    refused = await api.post("/v1/access-logs", json={"records": bad}, headers=auth(till))
    assert refused.status_code == 422, refused.text
    rule = {"indicators": ["unique_visitors", "page_views"],
            "condition": {"type": "periodic", "every_hours": 1}}
    put = await api.put(f"/v1/merchants/{shop['id']}/reporting-rules", json={"rules": [rule]},
                        headers=auth(shop))
    assert put.status_code == 200, put.text
    hook = await api.put(f"/v1/merchants/{shop['id']}/webhook", headers=auth(shop),
                         json={"url": "http://127.0.0.1:9/reports"})
    assert hook.status_code == 200, hook.text
    webhook_shown_in = responses_seen[0] - 1

    # Promotions: a round, a grant, a consent code (twice), a write-off and its replay.
    opened = await api.post("/v1/promotion-rounds", headers=admin, json={
        "evaluation": {"turnover": [{"merchant": shop["id"], "amount": 1_000_000},
                                    {"merchant": rival["id"], "amount": 1_000_000}],
                       "consumers": 2},
        "formula": {"base_per_merchant": 5, "turnover_per_coupon": 100_000,
                    "per_consumer": 0, "max_total": 1_000},
        "incentive_bps": 1_000, "shares": {"platform": 1_000, "issuer": 2_000,
                                           "redeemer": 2_000, "holder": 3_000,
                                           "earlier": 2_000},
        "rollback_window_seconds": 0, "consent_lifetime_seconds": 120})
    assert opened.status_code == 201, opened.text
    round_id = opened.json()["id"]
    allocated = await api.post(f"/v1/promotion-rounds/{round_id}/allocations", headers=admin,
                               json={"allocations": [{"merchant": shop["id"], "count": 5}]})
    assert allocated.status_code == 200, allocated.text
    granted = await api.post("/v1/promotion-grants", headers=auth(shop), json={
        "round_id": round_id, "grants": [{"consumer": ann["id"], "count": 2}]})
    assert granted.status_code == 201, granted.text
    coupon = granted.json()["coupon_ids"][0]
    for _ in range(2):
        consent = await api.post(f"/v1/promotion-coupons/{coupon}/consent", json={
            "merchant": "any", "max_order_amount": 100_000}, headers=auth(ann))
        assert consent.status_code == 201, consent.text
    code = consent.json()["code"]
    written = await api.post("/v1/write-offs", headers=auth(till),
                             json={"code": code, "order_amount": 100_000})
    assert written.status_code == 201, written.text
    replay = await api.post("/v1/write-offs", headers=auth(till),
                            json={"code": code, "order_amount": 100_000})
    assert replay.status_code == 409, replay.text

    # Prizes: a campaign, an award, a rotating code, a scan and a claim (and its replay).
    campaign = await api.post("/v1/prize-campaigns", headers=auth(shop), json={
        "title": "Draw", "prizes": [{"name": "Mug", "quantity": 3}],
        "terminals": [till["id"]], "ends_at": iso(now + 3_600)})
    assert campaign.status_code == 201, campaign.text
    awarded = await api.post(f"/v1/prize-campaigns/{campaign.json()['id']}/awards",
                             headers=auth(shop), json={"awards": [{"consumer": ann["id"]}]})
    assert awarded.status_code == 201, awarded.text
    award_id = awarded.json()["awards"][0]["id"]
    prize_code = await api.get(f"/v1/prize-awards/{award_id}/code", headers=auth(ann))
    assert prize_code.status_code == 200, prize_code.text
    scan = await api.post("/v1/prize-scans", json={"code": prize_code.json()["code"]},
                          headers=auth(till))
    assert scan.status_code == 201 and scan.json()["claimable"], scan.text
    claim = await api.post("/v1/prize-claims", json={"scan_id": scan.json()["scan_id"]},
                           headers=auth(till))
    assert claim.status_code == 201, claim.text
    again = await api.post("/v1/prize-scans", json={"code": prize_code.json()["code"]},
                           headers=auth(till))
    assert again.status_code == 201 and not again.json()["claimable"], again.text

    # Referrals: a product, a purchase, a promotion link and its verification.
    product = await api.post("/v1/products", headers=auth(shop), json={
        "name": "Song", "description": "A recording.", "price": 1_000, "circulation": 5})
    assert product.status_code == 201, product.text
    product_id = product.json()["id"]
    bought = await api.post(f"/v1/products/{product_id}/purchases", headers=auth(ann),
                            json={"quantity": 1, "batch": 1, "max_price": 1_000})
    assert bought.status_code == 201, bought.text
    link = await api.post(f"/v1/products/{product_id}/links", json={}, headers=auth(ann))
    assert link.status_code == 201, link.text
    closed = await api.post(f"/v1/products/{product_id}/batches/current:close",
                            headers=auth(shop))
    assert closed.status_code == 200, closed.text
    batch = await api.post(f"/v1/products/{product_id}/batches", headers=auth(shop),
                           json={"price": 2_000, "circulation": 5, "rebate_bps": 1_000})
    assert batch.status_code == 201, batch.text
    checked = await api.get(f"/v1/products/{product_id}/links/{link.json()['link']}")
    assert checked.status_code == 200, checked.text
    referred = await api.post(f"/v1/products/{product_id}/purchases", headers=auth(bob),
                              json={"quantity": 1, "link": link.json()["link"], "batch": 2,
                                    "max_price": 2_000})
    assert referred.status_code == 201, referred.text

    # Reads of one's own data, and refused credentials (never echoed back).
    for who in (shop, till, ann, bob):
        assert (await api.get("/v1/participants/me", headers=auth(who))).status_code == 200
        assert (await api.get("/v1/payouts/me", headers=auth(who))).status_code == 200
    assert (await api.get("/v1/holdings/me", headers=auth(ann))).status_code == 200
    # One character off (a key that already ends in "x" gets a "y": the same key would pass).
    last = "y" if ann["api_key"].endswith("x") else "x"
    near_miss = {"authorization": f"Bearer {ann['api_key'][:-1]}{last}"}
    assert (await api.post("/v1/consumers", json={"name": "Eve"},
                           headers=near_miss)).status_code == 401
    reused = await api.post("/v1/credits", json={"to": ann["id"], "amount": 2},
                            headers=admin | {"idempotency-key": "logs-1"})
    assert reused.status_code == 201, reused.text  # keys are scoped to the caller
    assert (await api.get("/v1/health")).status_code == 200
    assert (await api.get("/metrics")).status_code == 200

    # Credentials: one more API key, and a page session (its token only in the cookie).
    extra = await api.post("/v1/api-keys", json={"name": "export"}, headers=auth(shop))
    assert extra.status_code == 201, extra.text
    credentials = [("an extra API key", extra.json()["api_key"], responses_seen[0] - 1)]
    signed_in = await api.post("/v1/sessions", headers=auth(shop))
    assert signed_in.status_code == 201, signed_in.text
    token = api.cookies["cc_session"]
    credentials.append(("a page session token", token, responses_seen[0] - 1))
    page_write = await api.post("/v1/consumers", json={"name": "Cleo"},
                                headers={"x-csrf-token": api.cookies["cc_csrf"]})
    assert page_write.status_code == 201, page_write.text
    assert (await api.delete("/v1/sessions/current", headers={
        "x-csrf-token": api.cookies["cc_csrf"]})).status_code == 204
    api.cookies.clear()
    assert (await api.get("/v1/participants/me", headers=auth(
        {"api_key": extra.json()["api_key"]}))).status_code == 200

    return {"participants": participants, "credentials": credentials,
            "webhook_secret": hook.json()["secret"],
            "webhook_shown_in": webhook_shown_in, "refused_ip": refused_ip}


async def test_a_refused_address_is_not_echoed(client: httpx.AsyncClient) -> None:
    """An unreadable `ip` (an address with a port, a CIDR) is refused without repeating it:
    the record's raw address must not come back in the error either."""
    shop = (await client.post("/v1/merchants", json={"name": "Tea House"})).json()
    till = (await client.post("/v1/terminals", json={"name": "Till"},
                              headers=auth(shop))).json()
    number = (await client.get(f"/v1/merchants/{shop['id']}/reporting-rules")).json()[
        "merchant_number"]
    echoed = []
    for written in ("198.51.100.23:443", "198.51.100.23/32", "[2001:db8::7]:443"):
        record = {"ip": written, "time": int(time.time()), "merchant": number,
                  "method": "app", "operation": "view"}
        refused = await client.post("/v1/access-logs", json={"records": [record]},
                                    headers=auth(till))
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "records.0.ip"
        address = written.split("/")[0].rsplit(":", 1)[0].strip("[]")
        if address in refused.text:
            echoed.append(f"{written!r}: {refused.json()['detail']}")
    assert not echoed, "raw addresses echoed in responses:\n  " + "\n  ".join(echoed)
