"""Unit tests of the capacity reservations of contracts/editions.vy.

A reservation books pieces of an edition for one holder, so that a bulk sale
spread over many transactions cannot run short half-way; every rule and revert
string of `reserve`, `record_reserved_sales` and `release`.
"""

from pathlib import Path

import boa
import pytest
from eth_abi import encode
from eth_utils import keccak

from couponchain.domain.edition_slots import Channel, coupon_id_of

CONTRACTS = Path(__file__).resolve().parents[2] / "src" / "couponchain" / "contracts"
EDITIONS = boa.load_partial(str(CONTRACTS / "editions.vy"))
REF = b"\x42" * 32
KEY = b"\x01" * 32
DAY = 86_400
HOLD = 600


@pytest.fixture
def editions(registry):
    return EDITIONS.deploy(registry.address)


@pytest.fixture
def other_terminal(registry, other_merchant):
    account = boa.env.generate_address("other_terminal")
    with boa.env.prank(other_merchant):
        registry.register(account, 3, other_merchant)
    return account


@pytest.fixture
def second_terminal(registry, merchant):
    account = boa.env.generate_address("second_terminal")
    with boa.env.prank(merchant):
        registry.register(account, 3, merchant)
    return account


def register(editions, caller, cap=10, prefix="LATTE", valid_until=None):
    now = boa.env.timestamp
    with boa.env.prank(caller):
        return editions.register_edition(
            "Cafe", "Free latte", "One latte.", prefix, cap, 300, now,
            valid_until or now + DAY)


@pytest.fixture
def edition_id(editions, merchant):
    return register(editions, merchant)


def reserve(editions, caller, edition_id, count, key=KEY, hold=HOLD):
    with boa.env.prank(caller):
        return editions.reserve(edition_id, count, key, boa.env.timestamp + hold)


def sell_reserved(editions, caller, reservation, buyers):
    n = len(buyers)
    with boa.env.prank(caller):
        return editions.record_reserved_sales(
            reservation, buyers, [300] * n, [Channel.ONLINE] * n, [REF] * n)


def sell(editions, caller, edition_id, buyers):
    n = len(buyers)
    with boa.env.prank(caller):
        return editions.record_sales(edition_id, buyers, [300] * n, [1] * n, [REF] * n)


def release(editions, caller, reservation):
    with boa.env.prank(caller):
        return editions.release(reservation)


def test_reserve_books_capacity_for_the_holder(editions, terminal, edition_id):
    expires = boa.env.timestamp + HOLD
    with boa.env.prank(terminal):
        rid = editions.reserve(edition_id, 7, KEY, expires)
    log = editions.get_logs()[0]
    assert rid == keccak(encode(["address", "bytes32"], [terminal, KEY]))
    assert rid == editions.reservation_id(terminal, KEY)
    held = editions.reservation(rid)
    assert (held.edition_id, held.holder, held.left, held.expires, held.released) == (
        edition_id, terminal, 7, expires, False)
    assert (editions.reserved(edition_id), editions.remaining(edition_id)) == (7, 3)
    assert editions.edition(edition_id).sold == 0
    assert type(log).__name__ == "CapacityReserved"
    assert (log.edition_id, log.reservation, log.holder, log.key, log.count, log.expires) == (
        edition_id, rid, terminal, KEY, 7, expires)


def test_unreserved_sales_cannot_take_reserved_pieces(editions, merchant, consumer, edition_id):
    reserve(editions, merchant, edition_id, 7)
    assert sell(editions, merchant, edition_id, [consumer] * 3) == 1
    with boa.reverts("editions: cap exceeded"):
        sell(editions, merchant, edition_id, [consumer])
    with boa.reverts("editions: cap exceeded"), boa.env.prank(merchant):
        editions.record_sale(edition_id, consumer, 300, 1, REF)


def test_reserve_refused_whole_when_it_does_not_fit(editions, merchant, terminal, consumer,
                                                    edition_id):
    sell(editions, merchant, edition_id, [consumer] * 4)
    reserve(editions, merchant, edition_id, 4)
    with boa.reverts("editions: cap exceeded"):
        reserve(editions, terminal, edition_id, 3)
    assert editions.reserved(edition_id) == 4
    reserve(editions, terminal, edition_id, 2)
    assert editions.remaining(edition_id) == 0


def test_reserved_sales_consume_the_reservation(editions, terminal, consumer, edition_id):
    now = boa.env.timestamp
    rid = reserve(editions, terminal, edition_id, 7)
    assert sell_reserved(editions, terminal, rid, [consumer] * 4) == 1
    logs = editions.get_logs()
    consumed = logs[0]
    assert type(consumed).__name__ == "ReservationConsumed"
    assert (consumed.edition_id, consumed.reservation, consumed.count, consumed.left) == (
        edition_id, rid, 4, 3)
    assert [type(x).__name__ for x in logs[1:]] == ["CouponSold"] * 4
    assert (logs[-1].serial, logs[-1].seller, logs[-1].sold_at) == (4, terminal, now)
    assert sell_reserved(editions, terminal, rid, [consumer] * 3) == 5
    assert editions.reservation(rid).left == 0
    e = editions.edition(edition_id)
    assert (e.sold, editions.reserved(edition_id), editions.remaining(edition_id)) == (7, 0, 3)
    assert editions.serial_of(coupon_id_of(edition_id, 7)) == "LATTE-000007"
    with boa.reverts("editions: reservation exceeded"):
        sell_reserved(editions, terminal, rid, [consumer])


def test_reserved_sales_are_never_short_of_capacity(editions, merchant, terminal, consumer,
                                                    edition_id):
    # The scenario a bulk request meets: others sell everything they may
    # between its chunks, and its chunks still all land.
    rid = reserve(editions, terminal, edition_id, 6)
    sell_reserved(editions, terminal, rid, [consumer] * 2)
    sell(editions, merchant, edition_id, [consumer] * 4)
    with boa.reverts("editions: cap exceeded"):
        sell(editions, merchant, edition_id, [consumer])
    sell_reserved(editions, terminal, rid, [consumer] * 4)
    assert (editions.edition(edition_id).sold, editions.reserved(edition_id)) == (10, 0)


def test_a_reservation_sale_is_all_or_nothing(editions, terminal, consumer, edition_id):
    rid = reserve(editions, terminal, edition_id, 3)
    with boa.reverts("editions: reservation exceeded"):
        sell_reserved(editions, terminal, rid, [consumer] * 4)
    with boa.reverts("editions: zero buyer"):
        sell_reserved(editions, terminal, rid, [consumer, "0x" + "00" * 20])
    assert (editions.reservation(rid).left, editions.edition(edition_id).sold) == (3, 0)


@pytest.mark.parametrize(
    ("lengths", "reason"),
    [
        ((0, 0, 0, 0), "editions: empty batch"),
        ((2, 1, 2, 2), "editions: prices length mismatch"),
        ((2, 2, 1, 2), "editions: channels length mismatch"),
        ((2, 2, 2, 3), "editions: order refs length mismatch"),
    ],
)
def test_reserved_batch_arrays_must_match(editions, terminal, consumer, edition_id, lengths,
                                          reason):
    rid = reserve(editions, terminal, edition_id, 3)
    b, p, c, r = lengths
    with boa.reverts(reason), boa.env.prank(terminal):
        editions.record_reserved_sales(rid, [consumer] * b, [1] * p, [1] * c, [REF] * r)


def test_only_the_holder_consumes(editions, merchant, terminal, second_terminal, consumer,
                                  edition_id):
    rid = reserve(editions, terminal, edition_id, 3)
    for who in (merchant, second_terminal, consumer):
        with boa.reverts("editions: caller is not the reservation holder"):
            sell_reserved(editions, who, rid, [consumer])
    with boa.reverts("editions: unknown reservation"):
        sell_reserved(editions, terminal, editions.reservation_id(merchant, KEY), [consumer])


@pytest.mark.parametrize("who", ["other_merchant", "other_terminal", "consumer", "platform"])
def test_only_sellers_of_the_edition_reserve(editions, edition_id, merchant, other_merchant,
                                             other_terminal, consumer, platform, who):
    caller = {"other_merchant": other_merchant, "other_terminal": other_terminal,
              "consumer": consumer, "platform": platform}[who]
    with boa.reverts("editions: caller may not sell this edition"):
        reserve(editions, caller, edition_id, 1)


def test_reserve_rejects_bad_requests(editions, merchant, edition_id):
    with boa.reverts("editions: unknown edition"):
        reserve(editions, merchant, edition_id + 1, 1)
    with boa.reverts("editions: empty reservation"):
        reserve(editions, merchant, edition_id, 0)
    with boa.reverts("editions: reservation already expired"):
        reserve(editions, merchant, edition_id, 1, hold=0)
    with boa.reverts("editions: reservation too long"):
        reserve(editions, merchant, edition_id, 1, hold=DAY + 1)
    with boa.reverts("editions: cap exceeded"):
        reserve(editions, merchant, edition_id, 11)
    with boa.reverts("editions: cap exceeded"):
        reserve(editions, merchant, edition_id, 2**256 - 1)
    reserve(editions, merchant, edition_id, 1, hold=DAY)


def test_no_reservation_after_the_sales_window(editions, merchant):
    now = boa.env.timestamp
    eid = register(editions, merchant, valid_until=now + 100)
    boa.env.time_travel(seconds=100)
    with boa.reverts("editions: edition expired"):
        reserve(editions, merchant, eid, 1)


def test_a_key_is_used_once_per_holder(editions, merchant, terminal, consumer, edition_id):
    rid = reserve(editions, terminal, edition_id, 2)
    with boa.reverts("editions: reservation key used"):
        reserve(editions, terminal, edition_id, 1)
    sell_reserved(editions, terminal, rid, [consumer] * 2)
    with boa.reverts("editions: reservation key used"):  # used up
        reserve(editions, terminal, edition_id, 1)
    release(editions, terminal, rid)
    with boa.reverts("editions: reservation key used"):  # released
        reserve(editions, terminal, edition_id, 1)
    # Another holder's equal key is another reservation.
    assert reserve(editions, merchant, edition_id, 1) != rid


def test_release_returns_what_is_left(editions, terminal, consumer, edition_id):
    rid = reserve(editions, terminal, edition_id, 5)
    sell_reserved(editions, terminal, rid, [consumer] * 2)
    assert release(editions, terminal, rid) == 3
    log = editions.get_logs()[0]
    assert type(log).__name__ == "ReservationReleased"
    assert (log.edition_id, log.reservation, log.by, log.returned) == (
        edition_id, rid, terminal, 3)
    held = editions.reservation(rid)
    assert (held.left, held.released) == (0, True)
    assert (editions.reserved(edition_id), editions.remaining(edition_id)) == (0, 8)
    with boa.reverts("editions: reservation released"):
        sell_reserved(editions, terminal, rid, [consumer])
    with boa.reverts("editions: reservation released"):
        release(editions, terminal, rid)


def test_who_may_release_and_when(editions, merchant, terminal, second_terminal, consumer,
                                  edition_id):
    rid = reserve(editions, terminal, edition_id, 2)
    for who in (second_terminal, consumer):
        with boa.reverts("editions: reservation still held"):
            release(editions, who, rid)
    assert release(editions, merchant, rid) == 2  # the merchant overrides its terminals
    other = reserve(editions, terminal, edition_id, 2, key=b"\x02" * 32)
    boa.env.time_travel(seconds=HOLD - 1)
    with boa.reverts("editions: reservation still held"):
        release(editions, consumer, other)
    boa.env.time_travel(seconds=1)
    assert release(editions, consumer, other) == 2  # abandoned: anyone frees it
    with boa.reverts("editions: unknown reservation"):
        release(editions, merchant, b"\x09" * 32)


def test_an_expired_reservation_cannot_be_consumed(editions, merchant, terminal, consumer,
                                                   edition_id):
    rid = reserve(editions, terminal, edition_id, 10)
    boa.env.time_travel(seconds=HOLD - 1)
    sell_reserved(editions, terminal, rid, [consumer])
    boa.env.time_travel(seconds=1)
    with boa.reverts("editions: reservation expired"):
        sell_reserved(editions, terminal, rid, [consumer])
    # Its pieces stay booked until someone releases it.
    with boa.reverts("editions: cap exceeded"):
        sell(editions, merchant, edition_id, [consumer])
    release(editions, consumer, rid)
    assert sell(editions, merchant, edition_id, [consumer] * 9) == 2


def test_reserved_sales_stop_with_the_sales_window(editions, merchant, terminal, consumer):
    now = boa.env.timestamp
    eid = register(editions, merchant, valid_until=now + 100)
    rid = reserve(editions, terminal, eid, 3)
    boa.env.time_travel(seconds=100)
    with boa.reverts("editions: edition expired"):
        sell_reserved(editions, terminal, rid, [consumer])
    assert release(editions, terminal, rid) == 3


def test_reservations_of_two_editions_are_independent(editions, merchant, other_merchant,
                                                      consumer):
    a = register(editions, merchant, cap=3, prefix="A1")
    b = register(editions, other_merchant, cap=3, prefix="B2")
    ra = reserve(editions, merchant, a, 3)
    reserve(editions, other_merchant, b, 1)
    assert (editions.remaining(a), editions.remaining(b)) == (0, 2)
    sell(editions, other_merchant, b, [consumer] * 2)
    assert sell_reserved(editions, merchant, ra, [consumer] * 3) == 1
    assert editions.serial_of(coupon_id_of(b, 2)) == "B2-000002"


def test_reserved_sales_of_400_cost_what_plain_sales_cost(editions, merchant, terminal):
    eid = register(editions, merchant, cap=1000)
    n = 400
    buyers = [boa.env.generate_address() for _ in range(n)]
    rid = reserve(editions, terminal, eid, n)
    with boa.env.prank(terminal):
        editions.record_reserved_sales(rid, buyers, [300] * n, [1] * n, [REF] * n)
        gas = editions._computation.get_gas_used()
    # The bulk service's CHUNK: execution gas well inside a 16M gas transaction.
    assert gas < 27_000 * n
