"""Property tests of contracts/editions.vy; every example runs in its own
state snapshot, so examples never see each other's sales."""

import re
from pathlib import Path

import boa
import pytest
from boa.contracts.vyper.vyper_contract import VyperContract
from hypothesis import given
from hypothesis import strategies as st
from vyper.compiler.output import build_layout_output

from couponchain.domain.edition_slots import (
    CouponStatus,
    coupon_id_of,
    coupon_slot,
    decode_coupon_word,
    layout_from_compiler,
    sales_digest_step,
)

CONTRACTS = Path(__file__).resolve().parents[2] / "src" / "couponchain" / "contracts"
EDITIONS = boa.load_partial(str(CONTRACTS / "editions.vy"))
LAYOUT = layout_from_compiler(build_layout_output(EDITIONS.compiler_data))
REF = b"\x42" * 32
YEAR = 365 * 86_400
PREFIX_RE = re.compile(r"[A-Z0-9]{1,16}")

prefixes = st.text(alphabet="AZM09-_ az\u00e9", max_size=16).filter(lambda p: len(p.encode()) <= 16)
addresses = st.binary(min_size=20, max_size=20).filter(any).map(lambda b: "0x" + b.hex())


class _QuietContract(VyperContract):
    """On every revert boa keeps repr(contract), a dump of all its storage, for
    the error message; with many expected reverts that dominates the run."""

    def __repr__(self):
        return f"<editions at {self.address}>"


@pytest.fixture
def editions(registry):
    contract = EDITIONS.deploy(registry.address)
    contract.__class__ = _QuietContract
    return contract


def register(editions, merchant, cap=10, prefix="P1", valid_from=None, valid_until=None):
    now = boa.env.timestamp
    valid_from = now if valid_from is None else valid_from
    valid_until = now + YEAR if valid_until is None else valid_until
    with boa.env.prank(merchant):
        return editions.register_edition(
            "Brand", "Title", "Terms", prefix, cap, 100, valid_from, valid_until
        )


def registration_error(prefix: str, cap: int, valid_from: int, valid_until: int, now: int):
    """The revert the contract must give, in its order of checks; None if valid."""
    if prefix == "":
        return "editions: empty prefix"
    if not PREFIX_RE.fullmatch(prefix):
        return "editions: prefix must be A-Z or 0-9"
    if cap == 0:
        return "editions: cap is zero"
    if cap > 2**32 - 1:
        return "editions: cap too large"
    if valid_from >= valid_until:
        return "editions: empty or inverted window"
    if valid_until <= now:
        return "editions: window already ended"
    return None


@given(
    prefix=prefixes,
    cap=st.integers(0, 2**33),
    start=st.integers(-3 * YEAR, 3 * YEAR),
    length=st.integers(-YEAR, 2 * YEAR),
)
def test_registration_accepts_exactly_the_valid_editions(
    editions, merchant, prefix, cap, start, length
):
    with boa.env.anchor():
        now = boa.env.timestamp
        valid_from = max(0, now + start)
        valid_until = max(0, valid_from + length)
        error = registration_error(prefix, cap, valid_from, valid_until, now)
        if error is None:
            eid = register(editions, merchant, cap, prefix, valid_from, valid_until)
            assert editions.edition_by_prefix(prefix) == eid == editions.edition_count()
            assert editions.edition(eid).cap == cap
        else:
            with boa.reverts(error):
                register(editions, merchant, cap, prefix, valid_from, valid_until)
            assert editions.edition_count() == 0


@given(
    cap=st.integers(1, 30),
    batches=st.lists(st.integers(1, 12), min_size=1, max_size=8),
)
def test_batches_never_oversell(editions, merchant, terminal, consumer, cap, batches):
    with boa.env.anchor():
        eid = register(editions, merchant, cap=cap)
        sold = 0
        for n in batches:
            args = (eid, [consumer] * n, [1] * n, [1] * n, [REF] * n)
            with boa.env.prank(terminal):
                if sold + n > cap:
                    with boa.reverts("editions: cap exceeded"):
                        editions.record_sales(*args)
                else:
                    assert editions.record_sales(*args) == sold + 1
                    sold += n
            edition = editions.edition(eid)
            assert edition.sold == sold <= edition.cap
            assert editions.remaining(eid) == cap - sold
        if sold:
            assert editions.coupon(coupon_id_of(eid, sold)).status == CouponStatus.ACTIVE
        if sold < cap:
            assert editions.coupon(coupon_id_of(eid, sold + 1)).status == CouponStatus.NONE


@given(
    buyer=addresses,
    price=st.integers(0, 2**256 - 1),
    channel=st.sampled_from([1, 2]),
    order_ref=st.binary(min_size=32, max_size=32),
    wait=st.integers(0, YEAR),
)
def test_a_sale_is_stored_and_digested_exactly(
    editions, merchant, terminal, buyer, price, channel, order_ref, wait
):
    with boa.env.anchor():
        eid = register(editions, merchant, valid_until=boa.env.timestamp + 2 * YEAR)
        boa.env.time_travel(seconds=wait)
        with boa.env.prank(terminal):
            serial = editions.record_sale(eid, buyer, price, channel, order_ref)
        cid = coupon_id_of(eid, serial)
        word = decode_coupon_word(boa.env.get_storage(editions.address, coupon_slot(LAYOUT, cid)))
        assert word.owner.lower() == buyer
        assert (word.status, word.channel, word.sold_at) == (1, channel, boa.env.timestamp)
        record = editions.coupon(cid)
        assert (record.status, record.channel, record.sold_at) == (1, channel, word.sold_at)
        digest = sales_digest_step(
            b"\0" * 32, cid, buyer, price, channel, order_ref, word.sold_at, terminal
        )
        assert editions.edition(eid).sales_digest == digest


@given(serial=st.integers(1, 2**32 - 1), prefix=st.from_regex(PREFIX_RE, fullmatch=True))
def test_serials_print_as_prefix_and_padded_number(editions, merchant, consumer, serial, prefix):
    with boa.env.anchor():
        eid = register(editions, merchant, cap=2**32 - 1, prefix=prefix)
        with boa.env.prank(merchant):
            editions.record_sale(eid, consumer, 1, 1, REF)
        # Plant serial 1's word at `serial`, instead of selling billions of coupons.
        word = boa.env.get_storage(editions.address, coupon_slot(LAYOUT, coupon_id_of(eid, 1)))
        cid = editions.coupon_id_of(eid, serial)
        assert cid == coupon_id_of(eid, serial)
        boa.env.set_storage(editions.address, coupon_slot(LAYOUT, cid), word)
        assert editions.serial_of(cid) == f"{prefix}-{serial:06d}"


@given(
    start=st.integers(0, 1000),
    length=st.integers(1, 1000),
    at=st.integers(0, 2500),
)
def test_redeem_only_inside_the_half_open_window(editions, merchant, consumer, start, length, at):
    with boa.env.anchor():
        now = boa.env.timestamp
        eid = register(editions, merchant, valid_from=now + start, valid_until=now + start + length)
        with boa.env.prank(merchant):
            editions.record_sale(eid, consumer, 1, 1, REF)
        boa.env.time_travel(seconds=at)
        with boa.env.prank(merchant):
            if at < start:
                with boa.reverts("editions: not yet valid"):
                    editions.redeem(coupon_id_of(eid, 1))
            elif at >= start + length:
                with boa.reverts("editions: expired"):
                    editions.redeem(coupon_id_of(eid, 1))
            else:
                editions.redeem(coupon_id_of(eid, 1))
        assert editions.edition(eid).redeemed == (start <= at < start + length)


@given(
    picks=st.lists(st.integers(1, 7), min_size=1, max_size=8),
    redeem=st.booleans(),
)
def test_batches_are_all_or_nothing(editions, merchant, consumer, picks, redeem):
    """Serials 1-6 are sold and serial 7 is not; duplicates fail the batch."""
    with boa.env.anchor():
        eid = register(editions, merchant)
        with boa.env.prank(merchant):
            editions.record_sales(eid, [consumer] * 6, [1] * 6, [1] * 6, [REF] * 6)
        error, seen = None, set()
        for serial in picks:
            if serial == 7:
                error = "editions: unknown coupon"
            elif serial in seen:
                error = "editions: coupon already redeemed" if redeem else "editions: coupon voided"
            if error:
                break
            seen.add(serial)
        call = editions.redeem_batch if redeem else editions.void_batch
        ids = [coupon_id_of(eid, s) for s in picks]
        with boa.env.prank(merchant):
            if error:
                with boa.reverts(error):
                    call(ids)
            else:
                call(ids)
        done = 0 if error else len(seen)
        edition = editions.edition(eid)
        assert (edition.redeemed, edition.voided) == ((done, 0) if redeem else (0, done))
        status = CouponStatus.REDEEMED if redeem else CouponStatus.VOIDED
        for serial in range(1, 7):
            expected = status if serial in seen and not error else CouponStatus.ACTIVE
            assert editions.coupon(coupon_id_of(eid, serial)).status == expected


HOLD = 600

ops = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "consume", "sell", "release", "wait"]),
        st.integers(0, 2),  # which of three holders (keys) it concerns
        st.integers(1, 12),  # how many pieces
    ),
    min_size=1,
    max_size=12,
)


@given(cap=st.integers(1, 30), steps=ops)
def test_reservations_never_oversell(editions, merchant, terminal, consumer, cap, steps):
    """Reservations, their sales, unreserved sales, releases and expiry in any
    order: each outcome as predicted, and sold + reserved <= cap throughout."""
    with boa.env.anchor():
        eid = register(editions, merchant, cap=cap)
        sold, reserved = 0, 0
        # key index -> [reservation id, left, expires, released]
        held: dict[int, list] = {}
        for op, k, n in steps:
            now = boa.env.timestamp
            key = bytes([k + 1]) * 32
            with boa.env.prank(terminal):
                if op == "reserve":
                    if k in held:
                        with boa.reverts("editions: reservation key used"):
                            editions.reserve(eid, n, key, now + HOLD)
                    elif sold + reserved + n > cap:
                        with boa.reverts("editions: cap exceeded"):
                            editions.reserve(eid, n, key, now + HOLD)
                    else:
                        held[k] = [editions.reserve(eid, n, key, now + HOLD), n, now + HOLD, False]
                        reserved += n
                elif op == "consume" and k in held:
                    rid, left, expires, released = held[k]
                    args = (rid, [consumer] * n, [1] * n, [1] * n, [REF] * n)
                    error = ("editions: reservation released" if released
                             else "editions: reservation expired" if now >= expires
                             else "editions: reservation exceeded" if n > left else None)
                    if error:
                        with boa.reverts(error):
                            editions.record_reserved_sales(*args)
                    else:
                        assert editions.record_reserved_sales(*args) == sold + 1
                        held[k][1] -= n
                        sold, reserved = sold + n, reserved - n
                elif op == "sell":
                    args = (eid, [consumer] * n, [1] * n, [1] * n, [REF] * n)
                    if sold + reserved + n > cap:
                        with boa.reverts("editions: cap exceeded"):
                            editions.record_sales(*args)
                    else:
                        assert editions.record_sales(*args) == sold + 1
                        sold += n
                elif op == "release" and k in held:
                    rid, left, _, released = held[k]
                    if released:
                        with boa.reverts("editions: reservation released"):
                            editions.release(rid)
                    else:
                        assert editions.release(rid) == left
                        held[k][1], held[k][3] = 0, True
                        reserved -= left
                elif op == "wait":
                    boa.env.time_travel(seconds=n * 100)
            assert (editions.edition(eid).sold, editions.reserved(eid)) == (sold, reserved)
            assert sold + reserved <= cap
            assert editions.remaining(eid) == cap - sold - reserved
