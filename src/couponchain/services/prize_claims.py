"""Scans and claims at the store terminal: the hot path of a busy prize campaign.

A scan judges every claim condition of a code with one read (the award, its
campaign, prize, claim row and the consumer's claim counts) and stores the
scan; a claim writes its row, group-committed with other terminals' claims,
and is answered once that row is committed. The row's unique award id (and
code nonce) makes a code count once, and two terminals racing for one award
make exactly one claim. The recorder (`services/prize_recorder.py`) then puts
it on chain.

A claimable scan is kept in this process's memory for its confirm window with
the rows it read (an award's consumer, prize and campaign window never change
once awarded), so a claim confirmed at the terminal that scanned reads nothing
before its write; a claim whose scan is not in memory (another process made
it, or this one restarted) reads them again. A retried claim (its answer was
lost) finds the claim of its scan when its write is refused and gets that
claim back, so the retry costs nothing on the way of a fresh one.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from couponchain.domain import prize_codes
from couponchain.domain.roles import Role
from couponchain.errors import Conflict, ContractRevert, Forbidden, InvalidInput, NotFound
from couponchain.services import prize_views as views
from couponchain.services.participants import Caller
from couponchain.services.prize_conditions import MAX_ID, claims_of
from couponchain.services.prize_conditions import check as conditions_of
from couponchain.store.models import (
    Participant,
    PrizeAward,
    PrizeCampaign,
    PrizeClaim,
    PrizeRevocation,
    PrizeScan,
    PrizeStock,
)

#: Seconds after a scan within which the terminal may confirm its claim.
SCAN_CONFIRM_SECONDS = 120
SYNC_MAX = 500
#: Claimable scans kept in memory at most (200 terminals scanning every second
#: for the whole confirm window hold 24,000).
RECENT_SCANS_MAX = 100_000


@dataclass(frozen=True)
class Scanned:
    """A stored scan with the award, campaign and prize its code names (all
    three None unless the scan is claimable)."""

    scan: PrizeScan
    award: PrizeAward | None = None
    campaign: PrizeCampaign | None = None
    stock: PrizeStock | None = None


class RecentScans:
    """This process's claimable scans of the last confirm window, oldest first."""

    def __init__(self, limit: int = RECENT_SCANS_MAX) -> None:
        self.limit = limit
        self._scans: OrderedDict[str, Scanned] = OrderedDict()

    def add(self, scanned: Scanned, now: int) -> None:
        self._scans[scanned.scan.id] = scanned
        while self._scans:
            oldest = next(iter(self._scans.values())).scan
            if len(self._scans) <= self.limit and oldest.scanned_at + SCAN_CONFIRM_SECONDS >= now:
                break
            self._scans.popitem(last=False)

    def take(self, scan_id: str, terminal_id: str) -> Scanned | None:
        """The scan if this terminal made it, removed: a second claim of it
        goes the long way and meets the first one's row."""
        scanned = self._scans.get(scan_id)
        if scanned is None or scanned.scan.terminal_id != terminal_id:
            return None
        del self._scans[scan_id]
        return scanned

    def __len__(self) -> int:
        return len(self._scans)


class ClaimDesk:
    """The scan-and-claim half of `PrizeService` (mixed into it; it uses the
    service's `db`, `code_signer`, `recorder`, `signals` and `_addresses`)."""

    rt: Any
    db: Any
    code_signer: Any
    recorder: Any
    signals: Any
    recent_scans: RecentScans
    _addresses: dict[str, str]

    @property
    def prizes_address(self) -> str:
        """The prizes contract's address (the verifying contract of claim signatures)."""
        return self.rt.gateway.contracts["prizes"][0]  # type: ignore[no-any-return]

    async def _address_of(self, participant_id: str) -> str:
        """A participant's chain address (it never changes: cached)."""
        address = self._addresses.get(participant_id)
        if address is None:
            address = await self.db.read(lambda s: s.scalar(select(Participant.address).where(
                Participant.id == participant_id)))
            if address is None:
                raise NotFound(f"participant {participant_id} does not exist")
            self._addresses[participant_id] = address
        return address

    async def _terminal_of(self, caller: Caller) -> str:
        """The merchant a scanning caller acts for, once its standing allows it.

        A claim is acknowledged here and recorded on chain later, where the
        registry refuses a suspended or unbound terminal (or one of a suspended
        merchant); so the same rule is applied before anything is acknowledged."""
        merchant_id = caller.acts_for_merchant
        if merchant_id is None:
            raise Forbidden("only a terminal (or its merchant) scans and claims prizes")
        # Judged on the registry's read model; a participant it has not indexed yet
        # counts as active, as the registry registered it so.
        standing = await self.rt.standing.standing(caller)
        if standing.merchant_standing not in (None, "active"):
            raise Forbidden(f"this {caller.role.name.lower()} may not claim prizes: "
                            f"its merchant is {standing.merchant_standing}")
        if standing.standing != "active":
            why = f" ({standing.reason})" if standing.reason else ""
            raise Forbidden(f"this {caller.role.name.lower()} may not claim prizes: "
                            f"it is {standing.standing}{why}")
        return merchant_id

    # -- scans -----------------------------------------------------------------------

    async def scan(self, caller: Caller, code: str, *, local_time: int | None = None,
                   ) -> dict[str, Any]:
        """Check a scanned code's every claim condition and record the scan.

        A code that is not a prize code at all is refused (422, field `code`);
        any code of the right shape gets a stored scan whose conditions say
        why it may or may not be claimed. `local_time` is an offline
        terminal's clock when it scanned: the code must have been valid then,
        and this sync must come within the offline window of the code's issue
        (`prize_codes.check_offline`).
        """
        return await self._scan(caller, await self._terminal_of(caller), code, local_time)

    async def _scan(self, caller: Caller, merchant_id: str, code: str,
                    local_time: int | None) -> dict[str, Any]:
        """`scan`, for a caller already found to act for `merchant_id` in good standing."""
        parsed = prize_codes.parse_code(code)
        now = int(time.time())
        at = now if local_time is None else local_time
        window = None if local_time is None else self.rt.settings.prize_offline_window_seconds
        conditions, award, campaign, stock = await conditions_of(
            self.db, self.code_signer.address, caller, await self._address_of(merchant_id),
            code, parsed, now, at, window, chain_id=self.rt.chain_id,
            contract=self.prizes_address)
        claimable = all(c.ok for c in conditions)
        scan = PrizeScan(
            id=uuid.uuid4().hex, terminal_id=caller.id, terminal=caller.address,
            award_id=parsed.award_id if parsed.award_id <= MAX_ID else None,
            campaign_id=award.campaign_id if award else None,
            consumer=parsed.consumer, nonce=str(parsed.nonce), code_expiry=parsed.expiry,
            claim_expiry=parsed.claim_expiry, claim_signature=parsed.claim_signature,
            claimable=claimable, conditions=[c.public() for c in conditions],
            source="online" if local_time is None else "offline", scanned_at=now,
            local_scanned_at=local_time)
        def store(s: Session) -> None:
            s.add(scan)

        await self.db.write(store)  # group-committed with other terminals' scans
        if claimable:
            self.recent_scans.add(Scanned(scan, award, campaign, stock), now)
        authentic = conditions[0].ok is True
        return {
            "scan_id": scan.id, "claimable": claimable, "conditions": scan.conditions,
            "problems": [c.reason for c in conditions if c.ok is not True],
            "award": (await views.award_of_rows(self.db, award, campaign, stock))
            if award is not None and campaign is not None and stock is not None
            and authentic else None,
            "campaign": {"id": campaign.id, "title": campaign.title,
                         "starts_at": views.iso(campaign.starts),
                         "ends_at": views.iso(campaign.ends)}
            if campaign is not None and authentic else None,
            "prize": {"index": stock.prize_index, "name": stock.name}
            if stock is not None and authentic else None,
            "code": {"award_id": parsed.award_id, "consumer": parsed.consumer,
                     "issued_at": views.iso(parsed.issued_at),
                     "expires_at": views.iso(parsed.expiry), "nonce": str(parsed.nonce)},
            "scanned_at": views.iso(now),
            "confirm_before": views.iso(now + SCAN_CONFIRM_SECONDS) if claimable else None,
        }

    # -- claims ----------------------------------------------------------------------

    async def claim(self, caller: Caller, scan_id: str,
                    idempotency_key: str | None = None) -> dict[str, Any]:
        """Claim the award of a successful scan; answered once the claim row is committed.

        The row's unique award id and code nonce make this the only claim of
        the award; the recorder puts it on chain next (status `pending` until
        then, `recorded` with its transaction after; `GET /v1/prize-claims/{id}`).
        A retry of a claim (the answer was lost, e.g. a crash) gets the same claim.
        """
        await self._terminal_of(caller)
        scanned = self.recent_scans.take(scan_id, caller.id) \
            or await self._scanned(caller, scan_id)
        try:
            row = await self._reserve(scanned, caller, "online")
        except Conflict:
            # A retry is refused like any second claim (taken, scan too old, limit
            # reached by its own first claim): answer it with that first claim.
            async with self.db.session() as s:
                done = (await s.execute(select(PrizeClaim).where(
                    PrizeClaim.scan_id == scanned.scan.id))).scalar()
            if done is not None:
                return views.claim_public(done)
            raise
        self.recorder.record([row])
        self.signals.notify(row.campaign_id)
        return views.claim_public(row)

    async def get_claim(self, caller: Caller, claim_id: int) -> dict[str, Any]:
        """A claim row, for its campaign's merchant, that merchant's terminals or the platform."""
        async with self.db.session() as s:
            row = await s.get(PrizeClaim, claim_id) if claim_id <= MAX_ID else None
            campaign = await s.get(PrizeCampaign, row.campaign_id) if row else None
            merchant = await s.get(Participant, caller.acts_for_merchant) \
                if caller.acts_for_merchant else None
        if row is None or campaign is None:
            raise NotFound(f"prize claim {claim_id} does not exist", field="claim_id")
        if caller.role != Role.PLATFORM and (
                merchant is None or merchant.address != campaign.merchant):
            raise Forbidden("only the campaign's merchant, its terminals or the platform "
                            "may read its claims", field="claim_id")
        return views.claim_public(row)

    async def _scanned(self, caller: Caller, scan_id: str, field: str = "scan_id") -> Scanned:
        """A scan of this terminal read back, with its award's rows if it is claimable."""
        async with self.db.session() as s:
            scan = await s.get(PrizeScan, scan_id)
            if scan is None or scan.terminal_id != caller.id:
                raise NotFound(f"this terminal made no scan {scan_id}", field=field)
            if not scan.claimable:
                return Scanned(scan)
            award, campaign, stock = (await s.execute(
                _AWARD_IN_FULL, {"award_id": scan.award_id})).one()
        return Scanned(scan, award, campaign, stock)

    async def _reserve(self, scanned: Scanned, caller: Caller, source: str,
                       field: str = "scan_id") -> PrizeClaim:
        """Write the claim row; the unique award id makes the first claim the only one."""
        scan = scanned.scan
        if not scan.claimable:
            failed = next(c for c in scan.conditions if c["ok"] is not True)
            raise Conflict(f"the scan did not pass: {failed['name']}: {failed['reason']}",
                           field=field)
        now = int(time.time())
        if source == "online" and scan.source != "online":
            # Its time rules are the offline ones, judged when it was synced.
            raise Conflict("an offline scan is claimed by its sync "
                           "(POST /v1/prize-claims:sync), not confirmed", field=field)
        if source == "online" and now > scan.scanned_at + SCAN_CONFIRM_SECONDS:
            raise Conflict(f"the scan is older than {SCAN_CONFIRM_SECONDS} s: scan a fresh code",
                           field=field)
        award, campaign, stock = scanned.award, scanned.campaign, scanned.stock
        assert award is not None and campaign is not None and stock is not None
        assert scan.nonce is not None
        if now >= campaign.ends:
            raise ContractRevert("prizes: claim window closed", field=field)
        row = PrizeClaim(
            award_id=award.id, nonce=scan.nonce, scan_id=scan.id, campaign_id=award.campaign_id,
            prize_index=award.prize_index, prize_name=stock.name, consumer=award.consumer,
            terminal_id=caller.id, terminal=caller.address, scan_result=scan.conditions,
            claim_expiry=scan.claim_expiry, claim_signature=scan.claim_signature,
            status="pending", source=source, claimed_at=now)
        def store(s: Session) -> None:
            # The award's row lock orders this against a revocation of it
            # (services/prizes.py `revoke`): one of the two refuses the other.
            # SQLite has one writer at a time already (and this extra read in
            # its shared write transaction delayed the claim's live push).
            if s.get_bind().dialect.name != "sqlite":
                s.execute(select(PrizeAward.id).where(PrizeAward.id == award.id)
                          .with_for_update())
            if s.get(PrizeRevocation, award.id) is not None:
                raise ContractRevert("prizes: award revoked", field=field)
            used = claims_of(s, award.campaign_id, award.consumer)
            if used >= campaign.per_consumer_limit:
                raise ContractRevert("prizes: per-consumer limit reached", field=field)
            s.add(row)

        try:
            await self.db.write(store)  # group-committed with other terminals' claims
        except IntegrityError:
            raise await self._already_claimed(award.id, field) from None
        return row

    async def _already_claimed(self, award_id: int, field: str) -> Conflict:
        async with self.db.session() as s:
            first = (await s.execute(select(PrizeClaim).where(
                PrizeClaim.award_id == award_id))).scalar()
        refused = ContractRevert("prizes: award already claimed", field=field)
        if first is not None:
            refused.message = (f"award {award_id} was already claimed by terminal "
                               f"{first.terminal_id} at {views.iso(first.claimed_at)}")
        return refused

    # -- offline terminals -------------------------------------------------------------

    async def sync(self, caller: Caller, queued: Sequence[tuple[str, int]]) -> dict[str, Any]:
        """Reconcile an offline terminal's queue: each item claimed, a duplicate, or refused.

        Items are taken in the order the terminal scanned them; the first claim
        of an award wins (here or at any other terminal), every later one is
        reported as a duplicate with the claim that won. Every item gets a
        result; nothing is dropped. An item counts only if the terminal scanned
        it while its code was valid and it arrives within the offline window
        of the code's issue (`prize_codes.check_offline`); otherwise it is
        refused, its reason naming the rule (`not_expired: offline-window-passed:
        ...`). Its claim stays marked `source: offline`.
        """
        merchant_id = await self._terminal_of(caller)
        if not 1 <= len(queued) <= SYNC_MAX:
            raise InvalidInput(f"must hold 1 to {SYNC_MAX} queued claims", field="claims")
        order = sorted(range(len(queued)), key=lambda i: (queued[i][1], i))
        results: list[dict[str, Any]] = [{} for _ in queued]
        reserved: list[tuple[int, PrizeClaim]] = []
        for i in order:
            code, local_time = queued[i]
            field = f"claims.{i}"
            item: dict[str, Any] = {"index": i, "award_id": None, "scan_id": None}
            results[i] = item
            try:
                scan = await self._scan(caller, merchant_id, code, local_time)
                item.update(award_id=scan["code"]["award_id"], scan_id=scan["scan_id"],
                            conditions=scan["conditions"])
                if not scan["claimable"]:
                    failed = next(c for c in scan["conditions"] if c["ok"] is not True)
                    taken = failed["name"] == "not_claimed" and "already" in failed["reason"]
                    item.update(status="duplicate" if taken else "refused",
                                reason=f"{failed['name']}: {failed['reason']}")
                    continue
                scanned = self.recent_scans.take(scan["scan_id"], caller.id) \
                    or await self._scanned(caller, scan["scan_id"], field)
                row = await self._reserve(scanned, caller, "offline", field)
            except ContractRevert as exc:
                duplicate = "already claimed" in exc.reason
                item.update(status="duplicate" if duplicate else "refused",
                            reason=exc.message)
                continue
            except (InvalidInput, Conflict) as exc:
                item.update(status="refused", reason=exc.message)
                continue
            reserved.append((i, row))
        self.recorder.record(row for _, row in reserved)
        for i, row in reserved:
            results[i].update(status="claimed", reason="claimed; being recorded on chain",
                              claim=views.claim_public(row))
        for campaign_id in {row.campaign_id for _, row in reserved}:
            self.signals.notify(campaign_id)
        counts = Counter(r["status"] for r in results)
        return {"results": results, "claimed": counts["claimed"],
                "duplicates": counts["duplicate"], "refused": counts["refused"]}


#: An award with its campaign and prize (built once: claiming is a hot path).
_AWARD_IN_FULL = (select(PrizeAward, PrizeCampaign, PrizeStock)
                  .join(PrizeCampaign, PrizeCampaign.id == PrizeAward.campaign_id)
                  .join(PrizeStock, (PrizeStock.campaign_id == PrizeAward.campaign_id)
                        & (PrizeStock.prize_index == PrizeAward.prize_index))
                  .where(PrizeAward.id == bindparam("award_id")))
