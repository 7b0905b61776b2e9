"""Property tests of contracts/prizes.vy; every example runs in its own state
snapshot, so examples never see each other's campaigns."""

import boa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prizes_setup import STATUS_AWARDED, STATUS_CLAIMED, build_world

YEAR = 365 * 86_400

names = st.text(alphabet="ab é", max_size=12).filter(lambda n: len(n.encode()) <= 32)


@pytest.fixture(scope="module")
def world(platform, merchant, other_merchant, terminal):
    return build_world(platform, merchant, other_merchant, terminal)


def creation_error(title, prizes, starts, ends, limit, now):
    """The revert `create_campaign` must give, in its order of checks; None if valid."""
    if title == "":
        return "prizes: empty title"
    if not prizes:
        return "prizes: no prizes"
    if starts >= ends:
        return "prizes: empty or inverted window"
    if ends <= now:
        return "prizes: window already ended"
    if limit == 0:
        return "prizes: zero per-consumer limit"
    for name, quantity in prizes:
        if name == "":
            return "prizes: empty prize name"
        if quantity == 0:
            return "prizes: zero quantity"
        if quantity > 2**64 - 1:
            return "prizes: quantity too large"
    return None


@given(
    title=st.sampled_from(["", "Draw", "x" * 64]),
    prizes=st.lists(st.tuples(names, st.integers(0, 2**65)), max_size=16),
    start=st.integers(-YEAR, YEAR),
    length=st.integers(-YEAR, YEAR),
    limit=st.integers(0, 2**256 - 1),
)
def test_create_accepts_exactly_the_valid_campaigns(world, title, prizes, start, length, limit):
    with boa.env.anchor():
        now = boa.env.timestamp
        starts = max(0, now + start)
        ends = max(0, starts + length)
        error = creation_error(title, prizes, starts, ends, limit, now)
        args = {
            "title": title,
            "prize_names": [n for n, _ in prizes],
            "quantities": [q for _, q in prizes],
            "starts": starts,
            "ends": ends,
            "per_consumer_limit": limit,
        }
        if error is not None:
            with boa.reverts(error):
                world.create(**args)
            return
        cid = world.create(**args)
        c = world.prizes.campaign(cid)
        assert (c.starts, c.ends, c.per_consumer_limit, c.prize_count) == (
            starts,
            ends,
            limit,
            len(prizes),
        )
        for i, (name, quantity) in enumerate(prizes):
            assert tuple(world.prizes.prize(cid, i)) == (name, quantity, 0, 0, 0)


@given(
    quantities=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    batches=st.lists(
        st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), min_size=1, max_size=6),
        min_size=1,
        max_size=4,
    ),
)
def test_awards_stop_exactly_at_the_stock(world, quantities, batches):
    with boa.env.anchor():
        cid = world.create(prize_names=["p"] * len(quantities), quantities=quantities)
        awarded = [0] * len(quantities)
        next_id = 1
        for batch in batches:
            consumers = [world.consumers[c] for c, _ in batch]
            indexes = [i for _, i in batch]
            error, trial = None, list(awarded)
            for i in indexes:
                if i >= len(quantities):
                    error = "prizes: unknown prize"
                    break
                if trial[i] == quantities[i]:
                    error = "prizes: prize out of stock"
                    break
                trial[i] += 1
            if error:
                with boa.reverts(error):
                    world.award(cid, consumers, indexes)
                continue
            assert world.award(cid, consumers, indexes) == next_id
            next_id += len(batch)
            awarded = trial
        for i, quantity in enumerate(quantities):
            assert tuple(world.prizes.prize(cid, i))[1:] == (quantity, awarded[i], 0, 0)
        assert world.prizes.award_count() == next_id - 1


@given(
    limit=st.integers(1, 3),
    owners=st.lists(st.integers(0, 2), min_size=1, max_size=8),
    picks=st.lists(st.tuples(st.integers(0, 9), st.booleans()), min_size=1, max_size=6),
    caller=st.sampled_from(["merchant", "terminal", "second_terminal", "other_terminal"]),
    offset=st.integers(0, 40),
)
def test_claim_batches_are_all_or_nothing_with_the_first_reason(
    world, limit, owners, picks, caller, offset
):
    """Random batches (repeats, wrong consumers, unknown ids, over the limit,
    ineligible callers, outside the window) either apply whole or revert with
    the reason of the first failing claim."""
    with boa.env.anchor():
        now = boa.env.timestamp
        cid = world.create(
            prize_names=["p"],
            quantities=[8],
            starts=now + 10,
            ends=now + 30,
            per_consumer_limit=limit,
        )
        consumers = [world.consumers[o] for o in owners]
        first = world.award(cid, consumers, [0] * len(owners))
        boa.env.time_travel(seconds=offset)
        t = boa.env.timestamp
        ids, claimed_by = [], []
        for pick, right_consumer in picks:
            ids.append(first + pick)
            owner = consumers[pick] if pick < len(owners) else world.consumers[3]
            claimed_by.append(owner if right_consumer else world.consumers[3])

        error, claims, done = None, {}, set()
        for award_id, who in zip(ids, claimed_by, strict=True):
            k = award_id - first
            if k >= len(owners):
                error = "prizes: unknown award"
            elif who != consumers[k]:
                error = "prizes: consumer mismatch"
            elif caller not in ("merchant", "terminal"):
                error = "prizes: terminal not eligible"
            elif t < now + 10:
                error = "prizes: claim window not open"
            elif t >= now + 30:
                error = "prizes: claim window closed"
            elif award_id in done:
                error = "prizes: award already claimed"
            elif claims.get(who, 0) >= limit:
                error = "prizes: per-consumer limit reached"
            if error:
                break
            done.add(award_id)
            claims[who] = claims.get(who, 0) + 1

        account = getattr(world, caller)
        if error:
            with boa.reverts(error):
                world.claim(ids, claimed_by, caller=account)
            done, claims = set(), {}
        else:
            world.claim(ids, claimed_by, caller=account)
        for k in range(len(owners)):
            expected = STATUS_CLAIMED if first + k in done else STATUS_AWARDED
            assert world.prizes.award_of(first + k).status == expected
        for who in set(consumers):
            assert world.prizes.claims_of(cid, who) == claims.get(who, 0)
        assert tuple(world.prizes.prize(cid, 0))[1:] == (8, len(owners), len(done), 0)
