"""Prize write-off by scanning rotating codes (DESIGN §2.4).

A merchant creates campaigns and awards prizes on chain; the winning consumer's
phone shows a rotating code signed by the platform's code key (derived from the
master secret; its address is published so terminals verify codes offline); a
terminal scans it and gets each claim condition's result, then confirms the
claim. The claim is acknowledged once its row is committed to the prize-claim
database: its unique award id (and code nonce) makes a code count once and two
terminals racing for one award make exactly one claim. The recorder
(`services/prize_recorder.py`) then puts it on chain as a `claim_batch_at` item
naming the terminal, signed by the merchant with its other terminals' claims;
the contract stays the final authority. Reads come
from the read models (`services/prize_views.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from couponchain.chain.gateway import Call, OpResult
from couponchain.domain import eip712, prize_codes
from couponchain.domain import prize_claim_consent as claim_consent
from couponchain.domain.op_keys import op_key, request_part
from couponchain.domain.roles import Role
from couponchain.errors import ContractRevert, Forbidden, InvalidInput, NotFound
from couponchain.services import prize_views as views
from couponchain.services.participants import Caller
from couponchain.services.prize_changes import CampaignChanges
from couponchain.services.prize_claims import ClaimDesk, RecentScans
from couponchain.services.prize_conditions import AWARDED, CLAIMED, REVOKED
from couponchain.services.prize_recorder import ClaimRecorder
from couponchain.store.models import (
    Participant,
    PrizeAward,
    PrizeCampaign,
    PrizeClaim,
    PrizeRevocation,
    PrizeStock,
)
from couponchain.web import qr

log = logging.getLogger(__name__)

MAX_PRIZES = 16
MAX_TERMINALS = 64
#: Awards one award call may create (the contract's MAX_BATCH).
AWARD_CALL_MAX = 256
#: Awards one request may create, sent in calls of AWARD_CALL_MAX.
AWARD_REQUEST_MAX = 10_000
#: Counters live in signed 64-bit read-model columns.
MAX_QUANTITY = 2**63 - 1
#: Seconds a rotating code is valid; the page refreshes it REFRESH_MARGIN before.
CODE_LIFETIME = 20
REFRESH_MARGIN = 5
#: Seconds a campaign opened "now" is backdated: the contract judges the window
#: by the block's timestamp, which may trail this clock a little.
CLOCK_MARGIN = 10
#: Seconds between sweeps for pending claims to (re)submit.
SWEEP_INTERVAL = 2.0
#: Characters of a revocation's reason (kept off chain: the event has none).
REASON_MAX = 500


def code_key(master_secret: str, chain_id: int, prizes: str) -> LocalAccount:
    """The platform's code-signing account of one deployment, as it was derived
    before it became a stored secret (services/platform_secrets.py): a database
    from then keeps this value.

    Derived from the master secret, so every API worker signs with the same
    key and its address stays the published one across restarts; the chain id
    and the prizes contract's address go into the derivation, so deployments
    that share a secret (a staging copy, dev installs on the default secret)
    sign with different keys and refuse each other's codes, whose award ids
    repeat across deployments. The HKDF purpose keeps it apart from every
    other key derived from the secret.
    """
    info = b"prize-code-key:" + chain_id.to_bytes(32, "big") + bytes.fromhex(prizes[2:])
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=info).derive(master_secret.encode())
    # A 32-byte value is a valid secp256k1 key unless it is 0 or >= n
    # (probability about 2**-128); fold it into range all the same.
    value = int.from_bytes(seed, "big") % (eip712.SECP256K1_N - 1) + 1
    return Account.from_key(value.to_bytes(32, "big"))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class CampaignRequest:
    """A campaign as a merchant asks for it (terminals by id or address)."""

    title: str
    prizes: Sequence[tuple[str, int]]
    terminals: Sequence[str]
    all_terminals: bool
    starts: int | None
    ends: int
    per_consumer_limit: int



class _Signals:
    """Wakes the live streams of a campaign when its claims change."""

    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}
        self.closed = asyncio.Event()

    def current(self, campaign_id: int) -> asyncio.Event:
        """The event the next change of `campaign_id` sets (take it before reading)."""
        return self._events.setdefault(campaign_id, asyncio.Event())

    def notify(self, campaign_id: int) -> None:
        event = self._events.pop(campaign_id, None)
        if event is not None:
            event.set()

    def close(self) -> None:
        self.closed.set()
        for event in self._events.values():
            event.set()
        self._events.clear()


class PrizeService(ClaimDesk, CampaignChanges):
    """Campaigns, awards, rotating codes, scans and claims (`ClaimDesk`)."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self._code_signer: LocalAccount | None = None
        self.signals = _Signals()
        self.recorder = ClaimRecorder(runtime, self.signals.notify)
        self._award_locks: dict[int, asyncio.Lock] = {}
        self._addresses: dict[str, str] = {}
        self.recent_scans = RecentScans()

    @property
    def db(self) -> Any:
        return self.rt.db

    @property
    def code_signer(self) -> LocalAccount:
        """The code key of this deployment (known once the contracts are deployed)."""
        if self._code_signer is None:
            raise RuntimeError("the prize-code key is loaded when the runtime starts")
        return self._code_signer

    def use_code_key(self, private_key: bytes) -> None:
        """Sign codes with this key (a stored platform secret, see platform_secrets)."""
        self._code_signer = Account.from_key(private_key)

    def signer_public(self) -> dict[str, Any]:
        """What a terminal needs to verify codes offline."""
        return {"address": self.code_signer.address,
                "key_id": "0x" + prize_codes.key_id_of(self.code_signer.address).hex(),
                "scheme": "EIP-191 personal_sign over SIGNING_TAG + the code's first 46 bytes",
                "signing_tag": prize_codes.SIGNING_TAG.decode("ascii").rstrip("\x00"),
                "prefix": prize_codes.PREFIX, "max_lifetime_seconds": prize_codes.MAX_LIFETIME,
                "clock_skew_seconds": prize_codes.CLOCK_SKEW}

    def start(self) -> None:
        """Record claims on chain in the background (pending ones left by a crash first)."""
        self.recorder.start(SWEEP_INTERVAL)

    async def stop(self) -> None:
        """End every live stream and the recorder (the runtime is stopping)."""
        self.signals.close()
        await self.recorder.stop()

    # -- campaigns and awards --------------------------------------------------------

    async def create_campaign(self, caller: Caller, request: CampaignRequest,
                              idempotency_key: str | None) -> dict[str, Any]:
        """Create a campaign of the calling merchant on chain."""
        if caller.role != Role.MERCHANT:
            raise Forbidden("only a merchant creates prize campaigns")
        _check_text(request.title, 64, "title")
        if not 1 <= len(request.prizes) <= MAX_PRIZES:
            raise InvalidInput(f"must hold 1 to {MAX_PRIZES} prizes", field="prizes")
        for i, (name, quantity) in enumerate(request.prizes):
            _check_text(name, 32, f"prizes.{i}.name")
            if not 1 <= quantity <= MAX_QUANTITY:
                raise InvalidInput(f"must be 1 to {MAX_QUANTITY}", field=f"prizes.{i}.quantity")
        now = int(time.time())
        starts = now - CLOCK_MARGIN if request.starts is None else request.starts
        if not 0 <= starts < request.ends < 2**63:
            raise InvalidInput("must be after starts_at", field="ends_at")
        if request.ends <= now:
            raise InvalidInput("must be in the future", field="ends_at")
        if not 1 <= request.per_consumer_limit <= MAX_QUANTITY:
            raise InvalidInput(f"must be 1 to {MAX_QUANTITY}", field="per_consumer_limit")
        terminals = await self._own_terminals(caller, request)
        op = await self._submit(caller, Call("prizes", "create_campaign", fixed=(
            request.title, [n for n, _ in request.prizes], [q for _, q in request.prizes],
            terminals, request.all_terminals, starts, request.ends,
            request.per_consumer_limit), kind="create prize campaign"),
            idempotency_key, "campaign")
        campaign_id = next(int(e.args["campaign_id"]) for e in await op.events()
                           if e.name == "CampaignCreated")
        await self.rt.indexer.wait_for(op.block_number)
        return {**await views.campaign_detail(self.db, campaign_id),
                "code_signer": self.code_signer.address, **_evidence(op)}

    async def _own_terminals(self, caller: Caller, request: CampaignRequest) -> list[str]:
        if request.all_terminals:
            if request.terminals:
                raise InvalidInput("must be empty when all_terminals is set", field="terminals")
            return []
        if not 1 <= len(request.terminals) <= MAX_TERMINALS:
            raise InvalidInput(f"must name 1 to {MAX_TERMINALS} terminals, or set "
                               "all_terminals", field="terminals")
        fields = [f"terminals.{i}" for i in range(len(request.terminals))]
        addresses = await self.rt.participants.addresses(request.terminals, fields,
                                                         role=Role.TERMINAL)
        async with self.db.session() as s:
            owners = dict((await s.execute(select(Participant.address, Participant.merchant_id)
                                            .where(Participant.address.in_(addresses))))
                          .tuples().all())
        seen: set[str] = set()
        for address, field in zip(addresses, fields, strict=True):
            if owners.get(address) != caller.id:
                raise InvalidInput(f"terminal {address} belongs to another merchant",
                                   field=field)
            if address in seen:
                raise InvalidInput(f"terminal {address} is listed twice", field=field)
            seen.add(address)
        return addresses

    async def award(self, caller: Caller, campaign_id: int, awards: Sequence[tuple[str, int]],
                    idempotency_key: str | None) -> dict[str, Any]:
        """Award prizes to consumers, one or many (all or nothing, up to 10,000).

        One award is a merged item, so concurrent single awards of a campaign
        share a transaction; more are sent in calls of 256 under a per-campaign
        lock after checking the stock, so only this merchant's own requests
        could compete for it.
        """
        campaign = await self._campaign(campaign_id)
        if caller.role != Role.MERCHANT or caller.address != campaign.merchant:
            raise Forbidden("only the campaign's merchant awards its prizes")
        if not 1 <= len(awards) <= AWARD_REQUEST_MAX:
            raise InvalidInput(f"must hold 1 to {AWARD_REQUEST_MAX} awards", field="awards")
        if int(time.time()) >= campaign.ends:
            raise ContractRevert("prizes: campaign ended", field="id")
        consumers = await self.rt.participants.addresses(
            [c for c, _ in awards], [f"awards.{i}.consumer" for i in range(len(awards))],
            role=Role.CONSUMER)
        indexes = [i for _, i in awards]
        async with self.db.session() as s:
            stock = {p.prize_index: p for p in (await s.execute(select(PrizeStock).where(
                PrizeStock.campaign_id == campaign_id))).scalars()}
        for n, index in enumerate(indexes):
            if index not in stock:
                raise InvalidInput(f"campaign {campaign_id} has no prize {index}",
                                   field=f"awards.{n}.prize_index")
        lock = self._award_locks.setdefault(campaign_id, asyncio.Lock())
        async with lock:
            async with self.db.session() as s:
                stock = {p.prize_index: p for p in (await s.execute(select(PrizeStock).where(
                    PrizeStock.campaign_id == campaign_id))).scalars()}
            for index, wanted in Counter(indexes).items():
                left = stock[index].quantity - stock[index].awarded
                if wanted > left:
                    refused = ContractRevert("prizes: prize out of stock", field="awards")
                    refused.message = (f"{wanted} of prize {index} ({stock[index].name}) asked "
                                       f"for, {left} left to award; nothing was awarded")
                    raise refused
            ops: list[OpResult] = []
            calls = _award_calls(campaign_id, consumers, indexes)
            for n, call in enumerate(calls):
                ops.append(await self._submit(caller, call, request_part(idempotency_key, n),
                                              "award"))
        ids: list[int] = []
        for op in ops:
            events = [e for e in await op.events() if e.name == "Awarded"
                      and int(e.args["campaign_id"]) == campaign_id]
            if calls[0].item is not None:  # merged: only our item's event
                events = [events[op.item_index]]
            ids.extend(int(e.args["award_id"]) for e in events)
        await self.rt.indexer.wait_for(ops[-1].block_number)
        self.signals.notify(campaign_id)
        names = {p.prize_index: p.name for p in stock.values()}
        return {"campaign_id": campaign_id, "awarded": len(ids), "awards": [
            {"id": award_id, "consumer": consumer, "prize_index": index,
             "prize_name": names[index]}
            for award_id, consumer, index in zip(ids, consumers, indexes, strict=True)],
            "transactions": [op.tx_hash for op in ops], **_evidence(ops[-1])}

    async def revoke(self, caller: Caller, award_id: int, reason: str,
                     idempotency_key: str | None) -> dict[str, Any]:
        """Revoke an unclaimed award (the campaign's merchant, as the contract rules).

        The contract's `AwardRevoked` event has no reason, so the reason is kept
        off chain (`PrizeRevocation`), written before the chain call: from then
        on a terminal's claim of the award is refused, and a claim row already
        written refuses the revocation (the claim was acknowledged). A retry
        with the same Idempotency-Key reaches the same transaction.
        """
        reason = reason.strip()
        if not 1 <= len(reason) <= REASON_MAX:
            raise InvalidInput(f"must be 1 to {REASON_MAX} characters (not only spaces)",
                               field="reason")
        found = await self.db.read(
            lambda s: s.execute(_AWARD_TO_SHOW, {"award_id": award_id}).first())
        if found is None:
            raise NotFound(f"prize award {award_id} does not exist", field="id")
        award, campaign, _ = found
        if caller.role != Role.MERCHANT or caller.address != campaign.merchant:
            raise Forbidden("only the campaign's merchant revokes its awards "
                            "(prizes: caller is not the campaign's merchant)", field="id")
        if award.status == CLAIMED:
            raise ContractRevert("prizes: award already claimed", field="id")
        if award.status == REVOKED and idempotency_key is None:
            raise ContractRevert("prizes: award revoked", field="id")
        row = PrizeRevocation(award_id=award_id, campaign_id=award.campaign_id, reason=reason,
                              revoked_by=caller.id, requested_at=int(time.time()))

        def store(s: Session) -> None:
            # Locking the award's row orders this against a claim of the same award
            # (the claim takes the same lock), so one of the two refuses the other.
            s.execute(select(PrizeAward.id).where(PrizeAward.id == award_id).with_for_update())
            if s.execute(select(PrizeClaim.id).where(PrizeClaim.award_id == award_id)).first():
                raise ContractRevert("prizes: award already claimed", field="id")
            if s.get(PrizeRevocation, award_id) is None:
                s.add(row)
            elif idempotency_key is None:
                raise ContractRevert("prizes: award revoked", field="id")

        await self.db.write(store)
        try:
            op = await self._submit(caller, Call("prizes", "revoke_award", fixed=(award_id,),
                                                 kind="revoke prize award"),
                                    idempotency_key, f"revoke:{award_id}")
        except ContractRevert as refused:
            # Nothing was revoked: the award stays claimable. Unless the chain says
            # it was revoked already (by a request racing this one): the row then
            # keeps that first revocation's reason.
            if refused.reason != "prizes: award revoked":
                await self.db.write(lambda s: s.execute(delete(PrizeRevocation).where(
                    PrizeRevocation.award_id == award_id, PrizeRevocation.tx_hash.is_(None))))
            raise
        await self.db.write(lambda s: s.execute(update(PrizeRevocation).where(
            PrizeRevocation.award_id == award_id).values(tx_hash=op.tx_hash)))
        await self.rt.indexer.wait_for(op.block_number)
        self.signals.notify(award.campaign_id)
        return {**await views.award_detail(self.db, award_id), **_evidence(op)}

    # -- rotating codes ----------------------------------------------------------------

    async def code(self, caller: Caller, award_id: int) -> dict[str, Any]:
        """A fresh rotating code for the winning consumer, as text and as a QR."""
        found = await self.db.read(  # a phone asks every 15 s: one read
            lambda s: s.execute(_AWARD_TO_SHOW, {"award_id": award_id}).first())
        if found is None:
            raise NotFound(f"prize award {award_id} does not exist", field="id")
        award, campaign, taken = found
        if caller.address != award.consumer:
            raise Forbidden("only the award's consumer may show its code", field="id")
        if award.status != AWARDED:
            raise ContractRevert("prizes: award already claimed" if award.status == CLAIMED
                                 else "prizes: award revoked", field="id")
        if taken is not None:
            raise ContractRevert("prizes: award already claimed", field="id")
        now = int(time.time())
        if campaign is not None and now >= campaign.ends:
            raise ContractRevert("prizes: claim window closed", field="id")
        code = await self.signed_code(award, campaign.merchant, caller.id, now)
        parsed = prize_codes.parse_code(code)
        return {"award_id": award_id, "code": code, "nonce": str(parsed.nonce),
                "issued_at": views.iso(now), "expiry": parsed.expiry,
                "expires_at": views.iso(parsed.expiry),
                "refresh_in_seconds": CODE_LIFETIME - REFRESH_MARGIN,
                "signer": self.code_signer.address,
                "claim_signature_expires_at": views.iso(parsed.claim_expiry),
                "qr_svg": qr.svg_data_uri(code)}

    async def signed_code(self, award: PrizeAward, merchant: str, consumer_id: str,
                          now: int) -> str:
        """The code text for `award` issued at `now` (`code` without its checks and
        QR; benchmarks call it too). The winner's own signature of the claim rides
        in it: the contract records the claim only with it (keys are custodial, so
        it is signed here with the consumer's key)."""
        claim = claim_consent.PrizeClaimConsent(
            award=award.id, campaign=award.campaign_id, merchant=merchant,
            expiry=now + claim_consent.claim_lifetime(
                self.rt.settings.prize_offline_window_seconds))
        signature = claim_consent.sign_claim(
            claim, self.rt.chain_id, self.prizes_address,
            (await self.rt.participants.signer(consumer_id)).key)
        return prize_codes.issue_code(award.id, award.consumer, now, CODE_LIFETIME,
                                      self.code_signer, claim_expiry=claim.expiry,
                                      claim_signature=signature)

    # -- stats -----------------------------------------------------------------------

    async def stats(self, caller: Caller, campaign_id: int) -> dict[str, Any]:
        """Live statistics of a campaign (its merchant or the platform)."""
        await self.check_watcher(caller, campaign_id)
        return {**await views.stats(self.db, campaign_id),
                "code_signer": self.code_signer.address}

    async def check_watcher(self, caller: Caller, campaign_id: int) -> None:
        campaign = await self._campaign(campaign_id, field="id")
        if caller.role != Role.PLATFORM and not (
                caller.role == Role.MERCHANT and caller.address == campaign.merchant):
            raise Forbidden("only the campaign's merchant or the platform watches it")

    # -- helpers -------------------------------------------------------------------

    async def _campaign(self, campaign_id: int, field: str = "id") -> PrizeCampaign:
        async with self.db.session() as s:
            row = await s.get(PrizeCampaign, campaign_id)
        if row is None:
            raise NotFound(f"prize campaign {campaign_id} does not exist", field=field)
        return row  # type: ignore[no-any-return]

    async def _submit(self, caller: Caller, call: Call, idempotency_key: str | None,
                      what: str) -> OpResult:
        return await self.rt.gateway.submit(  # type: ignore[no-any-return]
            await self.rt.participants.signer(caller.id), call,
            op_key=op_key(caller.id, idempotency_key, what))



#: An award with its campaign and the id of its claim row, if any.
_AWARD_TO_SHOW = (select(PrizeAward, PrizeCampaign,
                         select(PrizeClaim.id).where(PrizeClaim.award_id == PrizeAward.id)
                         .scalar_subquery())
                  .join(PrizeCampaign, PrizeCampaign.id == PrizeAward.campaign_id)
                  .where(PrizeAward.id == bindparam("award_id")))


def _check_text(value: str, limit: int, field: str) -> None:
    size = len(value.encode())
    if not 1 <= size <= limit:
        raise InvalidInput(f"must be 1 to {limit} bytes of UTF-8", field=field)


def _award_calls(campaign_id: int, consumers: list[str], indexes: list[int]) -> list[Call]:
    """One merged item for a single award, else calls of at most 256 awards."""
    if len(consumers) == 1:
        return [Call("prizes", "award", fixed=(campaign_id,), item=(consumers[0], indexes[0]),
                     kind="award prize")]
    return [Call("prizes", "award", fixed=(campaign_id, consumers[i:i + AWARD_CALL_MAX],
                                           indexes[i:i + AWARD_CALL_MAX]),
                 kind=f"award {len(consumers[i:i + AWARD_CALL_MAX])} prizes")
            for i in range(0, len(consumers), AWARD_CALL_MAX)]


def _evidence(op: OpResult) -> dict[str, Any]:
    return {"tx_hash": op.tx_hash, "block_number": op.block_number}
