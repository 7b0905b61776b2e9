"""Stateful invariants of contracts/prizes.vy.

Random participants create campaigns, award, claim (with the winner's
signature, or a forged, misdirected or expired one), revoke, adjust running
campaigns (window, stock, terminals) and let time pass.
A ghost model predicts the exact outcome of every call (the revert string or
the new state). After every step: per prize `claimed <= awarded <= quantity`
and the counters equal the ghost's; an award is claimed at most once; no
consumer's claims in a campaign exceed its limit; every recorded claim was made
by an eligible account inside the window. Counters are read from storage after
every step (no EVM call; the packing is the one prizes.vy documents); the
views are compared for the awards, prizes and claim counts the step changed.
Each example runs in its own state snapshot.
"""

from dataclasses import dataclass, field

import boa
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule
from prizes_setup import (
    STATUS_AWARDED,
    STATUS_CLAIMED,
    STATUS_REVOKED,
    ZERO,
    claim_signature,
    keyed_consumer,
    prize_counters,
)
from storage_reader import StorageReader

from conftest import ContractMachine, deployer, quiet, register_all
from couponchain.domain.roles import Role

# name -> (role, merchant it acts for)
PARTICIPANTS = {
    "P": (Role.PLATFORM, None),
    "M1": (Role.MERCHANT, "M1"),
    "M2": (Role.MERCHANT, "M2"),
    "T1": (Role.TERMINAL, "M1"),
    "T1b": (Role.TERMINAL, "M1"),
    "T2": (Role.TERMINAL, "M2"),
    "C1": (Role.CONSUMER, None),
    "C2": (Role.CONSUMER, None),
    "C3": (Role.CONSUMER, None),
    "X": (Role.NONE, None),
}
# Consumers hold keys: a claim carries its winner's signature.
KEYS = {name: keyed_consumer(f"stateful {name}") for name, (role, _) in PARTICIPANTS.items()
        if role == Role.CONSUMER}
ADDRESS = {name: KEYS[name].address if name in KEYS
           else boa.env.generate_address(f"prizes_stateful_{name}") for name in PARTICIPANTS}
NAME_OF = {address: name for name, address in ADDRESS.items()}
STRANGER_KEY = keyed_consumer("stateful stranger")
ERR_NOT_SIGNED = "prizes: claim not signed by the consumer"
# How a claim's signature is made: the winner's own, or a bad one.
forgeries = st.sampled_from(["stranger", "other award", "expired", "other merchant"])
REASON = b"\x27" * 32  # a reason's hash: its text is kept off chain

callers = st.sampled_from(["M1", "M1", "T1", "T1", "T1b", "M2", "T2", "C1", "P", "X"])
recipients = st.sampled_from(["C1", "C2", "C3"] * 4 + ["T1", "X"])
# Mostly a prize of the campaign (taken modulo its size), 14-15: an unknown one.
prize_picks = st.integers(0, 15)
mostly = st.sampled_from([True, True, True, True, False])
rarely = st.sampled_from([False, False, False, False, False, False, False, True])
terminal_options = st.sampled_from(["T1", "T1,T1b", "all", "all", "T2", "C1", "T1,T1", "none"])


@dataclass
class GhostCampaign:
    merchant: str
    terminals: set[str]  # listed terminals
    all_terminals: bool  # every terminal of the merchant (the list is kept)
    starts: int
    ends: int
    limit: int
    quantities: list[int]
    awarded: list[int] = field(default_factory=list)
    claimed: list[int] = field(default_factory=list)
    revoked: list[int] = field(default_factory=list)

    def eligible(self, caller: str) -> bool:
        if caller == self.merchant or caller in self.terminals:
            return True
        role, merchant = PARTICIPANTS[caller]
        return self.all_terminals and role == Role.TERMINAL and merchant == self.merchant


@dataclass
class GhostAward:
    campaign: int
    consumer: str
    index: int
    status: int = STATUS_AWARDED
    claimed_by: str | None = None
    claimed_at: int | None = None


class PrizesMachine(ContractMachine):
    prizes = state = None  # deployed once per test

    @classmethod
    def deploy(cls) -> None:
        with boa.env.prank(ADDRESS["P"]):
            registry = quiet(deployer("registry").deploy())
            names = [n for n, (role, _) in PARTICIPANTS.items() if role > Role.PLATFORM]
            register_all(
                registry, ADDRESS["P"],
                [ADDRESS[n] for n in names],
                [PARTICIPANTS[n][0] for n in names],
                [
                    ADDRESS[PARTICIPANTS[n][1]] if PARTICIPANTS[n][0] == Role.TERMINAL else ZERO
                    for n in names
                ],
            )
        cls.prizes = quiet(deployer("prizes").deploy(registry.address))
        cls.state = StorageReader(cls.prizes)

    def __init__(self):
        super().__init__()
        self.campaigns: dict[int, GhostCampaign] = {}
        self.awards: dict[int, GhostAward] = {}
        self.claims: dict[tuple[int, str], int] = {}
        self.touched: set[int] = set()  # awards changed since the last check
        self.new_prizes: set[tuple[int, int]] = set()  # prizes created since then

    def _call(self, caller: str, error: str | None, fn, *args):
        with boa.env.prank(ADDRESS[caller]):
            if error is None:
                return fn(*args)
            with boa.reverts(error):
                fn(*args)
        return None

    def _pick_award(self, pick: int, live: bool = False, unknown: bool = False) -> int:
        """A known award id (with `live`, an unclaimed, unrevoked one if any), or
        (with `unknown`) the next, unknown one."""
        if unknown or not self.awards:
            return len(self.awards) + 1
        pool = [i for i, a in self.awards.items() if a.status == STATUS_AWARDED] if live else []
        pool = pool or sorted(self.awards)
        return pool[pick % len(pool)]

    # --- rules ----------------------------------------------------------------

    @initialize(
        merchant=st.sampled_from(["M1", "M2"]),
        quantities=st.lists(st.integers(1, 5), min_size=1, max_size=3),
        limit=st.integers(1, 4),
    )
    def first_campaign(self, merchant, quantities, limit):
        """An open campaign, so every run has something to award and claim."""
        self.create(merchant, "all", quantities, -5, 200, limit)
        winners = ["C1", "C2", "C3", "C1"][: quantities[0]]
        self.award(merchant, 1, [(who, 0) for who in winners], True)

    @rule(
        caller=callers,
        terminals=terminal_options,
        quantities=st.lists(st.integers(0, 5), min_size=1, max_size=3),
        start=st.integers(-30, 60),
        length=st.integers(-5, 200),
        limit=st.integers(0, 3),
    )
    def create(self, caller, terminals, quantities, start, length, limit):
        now = boa.env.timestamp
        starts = max(0, now + start)
        ends = max(0, starts + length)
        all_terminals = terminals == "all"
        listed = [] if terminals in ("all", "none") else terminals.split(",")
        error = None
        if PARTICIPANTS[caller][0] != Role.MERCHANT:
            error = "prizes: caller is not a merchant"
        elif starts >= ends:
            error = "prizes: empty or inverted window"
        elif ends <= now:
            error = "prizes: window already ended"
        elif limit == 0:
            error = "prizes: zero per-consumer limit"
        elif not all_terminals and not listed:
            error = "prizes: no eligible terminals"
        elif 0 in quantities:
            error = "prizes: zero quantity"
        else:
            seen = set()
            for t in listed:
                if PARTICIPANTS[t][0] != Role.TERMINAL:
                    error = "prizes: not a terminal"
                elif PARTICIPANTS[t][1] != caller:
                    error = "prizes: terminal of another merchant"
                elif t in seen:
                    error = "prizes: duplicate terminal"
                if error:
                    break
                seen.add(t)
        args = (
            "Draw",
            [f"prize {i}" for i in range(len(quantities))],
            quantities,
            [ADDRESS[t] for t in listed],
            all_terminals,
            starts,
            ends,
            limit,
        )
        cid = self._call(caller, error, self.prizes.create_campaign, *args)
        if error is None:
            assert cid == len(self.campaigns) + 1
            n = len(quantities)
            self.campaigns[cid] = GhostCampaign(
                caller,
                set(listed),
                all_terminals,
                starts,
                ends,
                limit,
                list(quantities),
                [0] * n,
                [0] * n,
                [0] * n,
            )
            self.new_prizes.update((cid, i) for i in range(n))

    @rule(
        caller=callers,
        pick=st.integers(0, 5),
        picks=st.lists(st.tuples(recipients, prize_picks), min_size=1, max_size=4),
        by_merchant=mostly,
    )
    def award(self, caller, pick, picks, by_merchant):
        # Mostly a known campaign; for pick 0 the next, unknown id.
        cid = (pick - 1) % len(self.campaigns) + 1 if pick else len(self.campaigns) + 1
        campaign = self.campaigns.get(cid)
        size = len(campaign.quantities) if campaign else 1
        items = [(who, p % size if p < 14 else size) for who, p in picks]
        if by_merchant and campaign is not None:
            caller = campaign.merchant
        error, added = None, {}
        if campaign is None:
            error = "prizes: unknown campaign"
        elif caller != campaign.merchant:
            error = "prizes: caller is not the campaign's merchant"
        elif boa.env.timestamp >= campaign.ends:
            error = "prizes: campaign ended"
        else:
            for who, index in items:
                if index >= len(campaign.quantities):
                    error = "prizes: unknown prize"
                elif PARTICIPANTS[who][0] != Role.CONSUMER:
                    error = "prizes: recipient is not a consumer"
                elif campaign.awarded[index] + added.get(index, 0) >= campaign.quantities[index]:
                    error = "prizes: prize out of stock"
                if error:
                    break
                added[index] = added.get(index, 0) + 1
        args = (cid, [ADDRESS[w] for w, _ in items], [i for _, i in items])
        first = self._call(caller, error, self.prizes.award, *args)
        if error is None:
            assert first == len(self.awards) + 1
            for k, (who, index) in enumerate(items):
                self.awards[first + k] = GhostAward(cid, who, index)
                self.touched.add(first + k)
            for index, count in added.items():
                campaign.awarded[index] += count

    @rule(
        caller=callers,
        picks=st.lists(st.tuples(st.integers(0, 40), mostly, rarely, callers), min_size=1,
                       max_size=3),
        by_eligible=mostly,
        live=mostly,
        at_terminals=st.booleans(),
    )
    def claim(self, caller, picks, by_eligible, live, at_terminals):
        """`claim_batch` by a terminal, or `claim_batch_at` by a merchant naming
        the terminal of each claim (drawn, or an eligible one when `by_eligible`),
        each with its winner's signature."""
        self._claim(caller, picks, by_eligible, live, at_terminals, ["good"] * len(picks))

    @rule(
        caller=callers,
        picks=st.lists(st.tuples(st.integers(0, 40), mostly, rarely, callers), min_size=1,
                       max_size=3),
        at_terminals=st.booleans(),
        forged=st.integers(0, 2),
        how=forgeries,
    )
    def claim_with_a_bad_signature(self, caller, picks, at_terminals, forged, how):
        """An eligible caller's batch in which one claim carries no valid signature
        of its winner: refused whole (if nothing before it failed), whoever sends it."""
        kinds = ["good"] * len(picks)
        kinds[forged % len(picks)] = how
        self._claim(caller, picks, True, True, at_terminals, kinds)

    def _signature(self, award_id: int, kind: str, expiry: int) -> bytes:
        award = self.awards.get(award_id)
        if award is None or award.consumer not in KEYS:
            return bytes(65)
        merchant = ADDRESS[self.campaigns[award.campaign].merchant]
        key, signed_award = KEYS[award.consumer], award_id
        if kind == "stranger":
            key = STRANGER_KEY
        elif kind == "other award":
            signed_award = award_id + 1
        elif kind == "other merchant":
            merchant = ADDRESS["M2" if merchant == ADDRESS["M1"] else "M1"]
        return claim_signature(self.prizes, key, signed_award, award.campaign, merchant, expiry)

    def _claim(self, caller, picks, by_eligible, live, at_terminals, kinds):
        ids = [self._pick_award(p, live, unknown) for p, _, unknown, _ in picks]
        terminals = [t for _, _, _, t in picks]
        first = self.awards.get(ids[0])
        if by_eligible and first is not None:
            campaign = self.campaigns[first.campaign]
            caller = "T1" if campaign.eligible("T1") else campaign.merchant
            if at_terminals:
                caller = campaign.merchant
                terminals = ["T1" if campaign.eligible("T1") else caller for _ in terminals]
        consumers = []
        for award_id, (_, right, _, _) in zip(ids, picks, strict=True):
            award = self.awards.get(award_id)
            consumers.append(award.consumer if award is not None and right else "C3")
        now, error = boa.env.timestamp, None
        claimed, counts = set(), {}
        for award_id, who, terminal, kind in zip(ids, consumers, terminals, kinds, strict=True):
            award = self.awards.get(award_id)
            if award is None:
                error = "prizes: unknown award"
                break
            campaign = self.campaigns[award.campaign]
            key = (award.campaign, award.consumer)
            if who != award.consumer:
                error = "prizes: consumer mismatch"
            elif at_terminals and caller != campaign.merchant:
                error = "prizes: caller is not the campaign's merchant"
            elif not at_terminals and not campaign.eligible(caller):
                error = "prizes: terminal not eligible"
            elif now < campaign.starts:
                error = "prizes: claim window not open"
            elif now >= campaign.ends:
                error = "prizes: claim window closed"
            elif at_terminals and not campaign.eligible(terminal):
                error = "prizes: terminal not eligible"
            elif award.status == STATUS_CLAIMED or award_id in claimed:
                error = "prizes: award already claimed"
            elif award.status == STATUS_REVOKED:
                error = "prizes: award revoked"
            elif kind == "expired":
                error = "prizes: claim signature expired"
            elif kind != "good":
                error = ERR_NOT_SIGNED
            elif self.claims.get(key, 0) + counts.get(key, 0) >= campaign.limit:
                error = "prizes: per-consumer limit reached"
            if error:
                break
            claimed.add(award_id)
            counts[key] = counts.get(key, 0) + 1
        args = (ids, [ADDRESS[w] for w in consumers])
        expiries = [now - 1 if kind == "expired" else now + 600 for kind in kinds]
        signed = (expiries, [self._signature(i, kind, expiry)
                             for i, kind, expiry in zip(ids, kinds, expiries, strict=True)])
        if at_terminals:
            self._call(caller, error, self.prizes.claim_batch_at, *args,
                       [ADDRESS[t] for t in terminals], *signed)
        else:
            terminals = [caller] * len(ids)
            self._call(caller, error, self.prizes.claim_batch, *args, *signed)
        if error is None:
            for award_id, terminal in zip(ids, terminals, strict=True):
                award = self.awards[award_id]
                campaign = self.campaigns[award.campaign]
                # Judged now: the campaign's terminals and window may change later.
                assert campaign.eligible(terminal)
                assert campaign.starts <= now < campaign.ends
                award.status = STATUS_CLAIMED
                award.claimed_by, award.claimed_at = terminal, now
                self.campaigns[award.campaign].claimed[award.index] += 1
                self.touched.add(award_id)
            for key, count in counts.items():
                self.claims[key] = self.claims.get(key, 0) + count
            logged = [e for e in self.prizes.get_logs() if type(e).__name__ == "Claimed"]
            assert [(e.award_id, NAME_OF[e.terminal], e.claimed_at) for e in logged] == [
                (i, t, now) for i, t in zip(ids, terminals, strict=True)
            ]

    @rule(caller=callers, pick=st.integers(0, 40), by_merchant=mostly, live=mostly, unknown=rarely)
    def revoke(self, caller, pick, by_merchant, live, unknown):
        award_id = self._pick_award(pick, live, unknown)
        award = self.awards.get(award_id)
        if by_merchant and award is not None:
            caller = self.campaigns[award.campaign].merchant
        error = None
        if award is None:
            error = "prizes: unknown award"
        elif caller != self.campaigns[award.campaign].merchant:
            error = "prizes: caller is not the campaign's merchant"
        elif award.status == STATUS_CLAIMED:
            error = "prizes: award already claimed"
        elif award.status == STATUS_REVOKED:
            error = "prizes: award revoked"
        self._call(caller, error, self.prizes.revoke_award, award_id)
        if error is None:
            award.status = STATUS_REVOKED
            campaign = self.campaigns[award.campaign]
            campaign.awarded[award.index] -= 1
            campaign.revoked[award.index] += 1
            self.touched.add(award_id)

    # --- adjusting a running campaign (issue 27) ----------------------------------

    def _adjustable(self, caller: str, pick: int, by_merchant: bool, reason: bool):
        """(campaign id, ghost, caller, reason hash, the shared refusal or None)."""
        cid = (pick - 1) % len(self.campaigns) + 1 if pick else len(self.campaigns) + 1
        campaign = self.campaigns.get(cid)
        if by_merchant and campaign is not None:
            caller = campaign.merchant
        error = None
        if campaign is None:
            error = "prizes: unknown campaign"
        elif caller != campaign.merchant:
            error = "prizes: caller is not the campaign's merchant"
        elif boa.env.timestamp >= campaign.ends:
            error = "prizes: campaign ended"
        elif not reason:
            error = "prizes: no reason"
        return cid, campaign, caller, REASON if reason else bytes(32), error

    @rule(caller=callers, pick=st.integers(0, 5), delta=st.integers(-10, 300),
          by_merchant=mostly, reason=mostly)
    def change_window(self, caller, pick, delta, by_merchant, reason):
        cid, campaign, caller, hashed, error = self._adjustable(caller, pick, by_merchant, reason)
        now = boa.env.timestamp
        ends = max(0, now + delta)
        if error is None and ends <= now:
            error = "prizes: window end not in the future"
        elif error is None and ends <= campaign.starts:
            error = "prizes: empty or inverted window"
        self._call(caller, error, self.prizes.change_window, cid, ends, hashed)
        if error is None:
            campaign.ends = ends
            assert self.prizes.campaign(cid).ends == ends

    @rule(caller=callers, pick=st.integers(0, 5), index=st.integers(0, 3),
          quantity=st.integers(0, 8), by_merchant=mostly, reason=mostly)
    def change_stock(self, caller, pick, index, quantity, by_merchant, reason):
        cid, campaign, caller, hashed, error = self._adjustable(caller, pick, by_merchant, reason)
        if error is None and index >= len(campaign.quantities):
            error = "prizes: unknown prize"
        elif error is None and quantity == 0:
            error = "prizes: zero quantity"
        elif error is None and quantity < campaign.awarded[index]:
            error = "prizes: stock below awarded"
        self._call(caller, error, self.prizes.change_stock, cid, index, quantity, hashed)
        if error is None:
            campaign.quantities[index] = quantity
            self.new_prizes.add((cid, index))

    @rule(caller=callers, pick=st.integers(0, 5),
          added=st.lists(st.sampled_from(["T1", "T1b", "T2", "C1"]), max_size=2),
          removed=st.lists(st.sampled_from(["T1", "T1b", "T2"]), max_size=2),
          all_terminals=st.booleans(), by_merchant=mostly, reason=mostly)
    def change_terminals(self, caller, pick, added, removed, all_terminals, by_merchant,
                         reason):
        cid, campaign, caller, hashed, error = self._adjustable(caller, pick, by_merchant, reason)
        listed = set(campaign.terminals) if campaign is not None else set()
        if error is None:
            for t in removed:  # removals first, each once
                if t not in listed:
                    error = "prizes: terminal not listed"
                    break
                listed.discard(t)
        if error is None:
            for t in added:
                if PARTICIPANTS[t][0] != Role.TERMINAL:
                    error = "prizes: not a terminal"
                elif PARTICIPANTS[t][1] != caller:
                    error = "prizes: terminal of another merchant"
                elif t in listed:
                    error = "prizes: duplicate terminal"
                if error:
                    break
                listed.add(t)
        self._call(caller, error, self.prizes.change_terminals, cid,
                   [ADDRESS[t] for t in added], [ADDRESS[t] for t in removed],
                   all_terminals, hashed)
        if error is None:
            campaign.terminals, campaign.all_terminals = listed, all_terminals
            for name in ("T1", "T1b", "T2", "M1"):
                assert self.prizes.terminal_eligible(cid, ADDRESS[name]) == \
                    campaign.eligible(name)

    @rule(seconds=st.integers(0, 60))
    def wait(self, seconds):
        boa.env.time_travel(seconds=seconds)

    # --- invariants -------------------------------------------------------------
    # Counters read from storage (no EVM call) after every step; the views, for
    # the awards the step changed.

    def _counters(self, cid: int, index: int) -> tuple[int, int, int, int]:
        """(quantity, awarded, claimed, revoked) of a prize, from storage."""
        return prize_counters(self.state.word("_prizes", cid, index))

    @invariant()
    def prize_counters_match_and_hold(self):
        assert self.state.word("campaign_count") == len(self.campaigns)
        assert self.state.word("award_count") == len(self.awards)
        for cid, ghost in self.campaigns.items():
            for i, quantity in enumerate(ghost.quantities):
                stored_quantity, awarded, claimed, revoked = self._counters(cid, i)
                assert claimed <= awarded <= stored_quantity == quantity
                assert (awarded, claimed, revoked) == (
                    ghost.awarded[i],
                    ghost.claimed[i],
                    ghost.revoked[i],
                )

    @invariant()
    def awards_match_the_ghost(self):
        """Every award changed by the last step (the others cannot have moved),
        and the prizes and claim counts it changed, through the views."""
        prizes, claimants = set(self.new_prizes), set()
        for award_id in sorted(self.touched):
            ghost = self.awards[award_id]
            record = self.prizes.award_of(award_id)
            assert (record.campaign_id, NAME_OF[record.consumer], record.prize_index) == (
                ghost.campaign,
                ghost.consumer,
                ghost.index,
            )
            assert record.status == ghost.status
            prizes.add((ghost.campaign, ghost.index))
            if ghost.status == STATUS_CLAIMED:
                claimants.add((ghost.campaign, ghost.consumer))
        for cid, i in sorted(prizes):
            prize, ghost = self.prizes.prize(cid, i), self.campaigns[cid]
            assert (prize.quantity, prize.awarded, prize.claimed, prize.revoked) == (
                ghost.quantities[i],
                ghost.awarded[i],
                ghost.claimed[i],
                ghost.revoked[i],
            )
        for cid, who in sorted(claimants):
            assert self.prizes.claims_of(cid, ADDRESS[who]) == self.claims[(cid, who)]
        self.touched.clear()
        self.new_prizes.clear()

    @invariant()
    def claims_respect_limit_eligibility_and_window(self):
        for (cid, who), count in self.claims.items():
            assert self.state.word("_claims", cid, ADDRESS[who]) == count
            assert count <= self.campaigns[cid].limit
        # Each award counts once in its prize's `claimed`: claimed at most once.
        claimed: dict[tuple[int, int], int] = {}
        for award in self.awards.values():
            if award.status == STATUS_CLAIMED:
                # Eligibility and window were asserted when the claim was made.
                key = (award.campaign, award.index)
                claimed[key] = claimed.get(key, 0) + 1
        for cid, ghost in self.campaigns.items():
            for i in range(len(ghost.quantities)):
                assert self._counters(cid, i)[2] == claimed.get((cid, i), 0)


TestPrizesMachine = PrizesMachine.test_case("prizes")
