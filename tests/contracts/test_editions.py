"""Unit tests of contracts/editions.vy: every rule and revert string."""

from pathlib import Path

import boa
import pytest
from eth_utils import keccak

from couponchain.domain.edition_slots import Channel, CouponStatus, coupon_id_of

CONTRACTS = Path(__file__).resolve().parents[2] / "src" / "couponchain" / "contracts"
EDITIONS = boa.load_partial(str(CONTRACTS / "editions.vy"))
ZERO = "0x" + "00" * 20
REF = b"\x42" * 32
DAY = 86_400
TERMS = "Valid for one latte in any participating store. Not exchangeable for cash."


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
def actors(platform, merchant, other_merchant, terminal, other_terminal, consumer):
    """Every participant by fixture name, plus an unregistered stranger."""
    return {
        "platform": platform,
        "merchant": merchant,
        "other_merchant": other_merchant,
        "terminal": terminal,
        "other_terminal": other_terminal,
        "consumer": consumer,
        "stranger": boa.env.generate_address("stranger"),
    }


def register(editions, caller, **overrides):
    """Registers an edition with sane defaults; returns its id."""
    now = boa.env.timestamp
    args = {
        "brand": "Cafe",
        "title": "Free latte",
        "terms": TERMS,
        "prefix": "LATTE",
        "cap": 5,
        "price": 300,
        "valid_from": now,
        "valid_until": now + DAY,
    } | overrides
    with boa.env.prank(caller):
        return editions.register_edition(*args.values())


def sell(editions, caller, edition_id, buyers, channel=Channel.ONLINE):
    n = len(buyers)
    with boa.env.prank(caller):
        return editions.record_sales(edition_id, buyers, [300] * n, [channel] * n, [REF] * n)


@pytest.fixture
def edition_id(editions, merchant):
    return register(editions, merchant)


@pytest.fixture
def sold(editions, merchant, edition_id, consumer):
    """Coupon ids of serials 1-3 of `edition_id`, bought by `consumer`."""
    first = sell(editions, merchant, edition_id, [consumer] * 3)
    return [coupon_id_of(edition_id, first + i) for i in range(3)]


def test_constructor_refuses_zero_registry():
    with boa.reverts("editions: zero registry"):
        EDITIONS.deploy(ZERO)


# --- registration -----------------------------------------------------------


def test_register_stores_declared_data(editions, merchant):
    now = boa.env.timestamp
    assert register(editions, merchant) == 1
    logged = editions.get_logs()[0]
    assert register(editions, merchant, prefix="MUG") == 2

    e = editions.edition(1)
    assert (e.merchant, e.brand, e.title, e.prefix) == (merchant, "Cafe", "Free latte", "LATTE")
    assert (e.cap, e.sold, e.voided, e.redeemed, e.price) == (5, 0, 0, 0, 300)
    assert (e.valid_from, e.valid_until) == (now, now + DAY)
    assert e.content_hash == keccak(TERMS.encode())
    assert e.sales_digest == b"\x00" * 32
    assert editions.edition_count() == 2
    assert editions.edition_by_prefix("LATTE") == 1
    assert editions.edition_by_prefix("MUG") == 2
    assert editions.edition_by_prefix("NONE") == 0
    assert editions.remaining(1) == 5

    assert type(logged).__name__ == "EditionRegistered"
    assert (logged.edition_id, logged.merchant, logged.prefix, logged.cap) == (
        1,
        merchant,
        "LATTE",
        5,
    )
    assert logged.terms == TERMS
    assert logged.content_hash == keccak(TERMS.encode())


def test_register_keeps_the_longest_terms_in_the_event(editions, merchant):
    terms = "é" * 2048  # 4096 bytes of UTF-8, the maximum
    register(editions, merchant, terms=terms)
    assert editions.get_logs()[0].terms == terms
    assert editions.edition(1).content_hash == keccak(terms.encode())


@pytest.mark.parametrize("who", ["terminal", "consumer", "platform", "stranger"])
def test_only_merchants_register(editions, actors, who):
    with boa.reverts("editions: caller is not a merchant"):
        register(editions, actors[who])


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("brand", "", "editions: empty brand"),
        ("title", "", "editions: empty title"),
        ("terms", "", "editions: empty terms"),
        ("prefix", "", "editions: empty prefix"),
        ("prefix", "latte", "editions: prefix must be A-Z or 0-9"),
        ("prefix", "LAT-TE", "editions: prefix must be A-Z or 0-9"),
        ("prefix", "LAT TE", "editions: prefix must be A-Z or 0-9"),
        ("prefix", "LATTÉ", "editions: prefix must be A-Z or 0-9"),
        ("cap", 0, "editions: cap is zero"),
        ("cap", 2**32, "editions: cap too large"),
    ],
)
def test_register_rejects_bad_data(editions, merchant, field, value, reason):
    with boa.reverts(reason):
        register(editions, merchant, **{field: value})


def test_register_accepts_the_largest_cap_and_prefix(editions, merchant):
    register(editions, merchant, cap=2**32 - 1, prefix="Z09AZ09AZ09AZ09A")
    assert editions.edition(1).cap == 2**32 - 1


def test_prefix_is_unique_across_merchants(editions, merchant, other_merchant):
    register(editions, merchant)
    with boa.reverts("editions: prefix taken"):
        register(editions, merchant)
    with boa.reverts("editions: prefix taken"):
        register(editions, other_merchant)


def test_register_rejects_empty_inverted_and_past_windows(editions, merchant):
    now = boa.env.timestamp
    with boa.reverts("editions: empty or inverted window"):
        register(editions, merchant, valid_from=now + 10, valid_until=now + 10)
    with boa.reverts("editions: empty or inverted window"):
        register(editions, merchant, valid_from=now + 11, valid_until=now + 10)
    with boa.reverts("editions: window already ended"):
        register(editions, merchant, valid_from=now - 10, valid_until=now)
    # A window that started already but has not ended is fine.
    assert register(editions, merchant, valid_from=now - 10, valid_until=now + 1) == 1


# --- sales ------------------------------------------------------------------


def test_record_sale_assigns_serials_in_order(editions, merchant, terminal, consumer, edition_id):
    now = boa.env.timestamp
    with boa.env.prank(merchant):
        assert editions.record_sale(edition_id, consumer, 250, Channel.ONLINE, REF) == 1
    with boa.env.prank(terminal):
        assert editions.record_sale(edition_id, consumer, 300, Channel.OFFLINE, REF) == 2
    log = editions.get_logs()[0]
    assert type(log).__name__ == "CouponSold"
    assert (log.edition_id, log.coupon_id, log.serial) == (edition_id, 2**32 + 2, 2)
    assert (log.buyer, log.price, log.channel, log.order_ref) == (consumer, 300, 2, REF)
    assert (log.sold_at, log.seller) == (now, terminal)

    rec = editions.coupon(coupon_id_of(edition_id, 2))
    assert (rec.edition_id, rec.serial, rec.owner) == (edition_id, 2, consumer)
    assert (rec.status, rec.channel, rec.sold_at) == (CouponStatus.ACTIVE, Channel.OFFLINE, now)
    assert editions.edition(edition_id).sold == 2
    assert editions.remaining(edition_id) == 3
    assert editions.serial_of(coupon_id_of(edition_id, 2)) == "LATTE-000002"


def test_record_sales_returns_first_serial(editions, merchant, consumer, edition_id):
    assert sell(editions, merchant, edition_id, [consumer]) == 1
    assert sell(editions, merchant, edition_id, [consumer] * 3) == 2
    serials = [log.serial for log in editions.get_logs()]
    assert serials == [2, 3, 4]
    assert editions.edition(edition_id).sold == 4


def test_unsold_coupon_reads_as_status_none(editions, edition_id):
    rec = editions.coupon(coupon_id_of(edition_id, 1))
    assert (rec.owner, rec.status) == (ZERO, CouponStatus.NONE)
    with boa.reverts("editions: unknown coupon"):
        editions.serial_of(coupon_id_of(edition_id, 1))


@pytest.mark.parametrize("who", ["other_merchant", "other_terminal", "consumer", "platform"])
def test_only_the_merchant_and_its_terminals_sell(editions, edition_id, consumer, actors, who):
    with boa.reverts("editions: caller may not sell this edition"):
        sell(editions, actors[who], edition_id, [consumer])


def test_sale_of_unknown_edition(editions, merchant, consumer, edition_id):
    with boa.reverts("editions: unknown edition"):
        sell(editions, merchant, edition_id + 1, [consumer])


def test_sale_rejects_zero_buyer_and_unknown_channel(editions, merchant, consumer, edition_id):
    with boa.reverts("editions: zero buyer"), boa.env.prank(merchant):
        editions.record_sale(edition_id, ZERO, 1, Channel.ONLINE, REF)
    for channel in (0, 3):
        with boa.reverts("editions: unknown channel"), boa.env.prank(merchant):
            editions.record_sale(edition_id, consumer, 1, channel, REF)


def test_cap_is_never_exceeded(editions, merchant, consumer, edition_id):
    sell(editions, merchant, edition_id, [consumer] * 5)
    with boa.reverts("editions: cap exceeded"), boa.env.prank(merchant):
        editions.record_sale(edition_id, consumer, 1, Channel.ONLINE, REF)
    assert editions.remaining(edition_id) == 0


def test_batch_crossing_the_cap_is_rejected_whole(editions, merchant, consumer, edition_id):
    sell(editions, merchant, edition_id, [consumer] * 3)
    with boa.reverts("editions: cap exceeded"):
        sell(editions, merchant, edition_id, [consumer] * 3)
    assert editions.edition(edition_id).sold == 3
    assert editions.coupon(coupon_id_of(edition_id, 4)).status == CouponStatus.NONE
    assert sell(editions, merchant, edition_id, [consumer] * 2) == 4  # exactly fills the cap
    assert editions.remaining(edition_id) == 0


def test_one_bad_item_fails_the_whole_batch(editions, merchant, consumer, edition_id):
    with boa.reverts("editions: zero buyer"):
        sell(editions, merchant, edition_id, [consumer, consumer, ZERO])
    assert editions.edition(edition_id).sold == 0
    assert editions.coupon(coupon_id_of(edition_id, 1)).status == CouponStatus.NONE


@pytest.mark.parametrize(
    ("lengths", "reason"),
    [
        ((0, 0, 0, 0), "editions: empty batch"),
        ((2, 1, 2, 2), "editions: prices length mismatch"),
        ((2, 2, 3, 2), "editions: channels length mismatch"),
        ((2, 2, 2, 1), "editions: order refs length mismatch"),
    ],
)
def test_batch_arrays_must_match(editions, merchant, consumer, edition_id, lengths, reason):
    nb, np_, nc, nr = lengths
    with boa.reverts(reason), boa.env.prank(merchant):
        editions.record_sales(edition_id, [consumer] * nb, [1] * np_, [1] * nc, [REF] * nr)


def test_presale_allowed_but_no_sale_after_the_window(editions, merchant, consumer):
    now = boa.env.timestamp
    eid = register(editions, merchant, valid_from=now + DAY, valid_until=now + 2 * DAY)
    assert sell(editions, merchant, eid, [consumer]) == 1
    boa.env.time_travel(seconds=2 * DAY - 1)
    assert sell(editions, merchant, eid, [consumer]) == 2
    boa.env.time_travel(seconds=1)
    with boa.reverts("editions: edition expired"):
        sell(editions, merchant, eid, [consumer])


def test_serials_of_independent_editions(editions, merchant, other_merchant, consumer):
    a = register(editions, merchant, prefix="A1")
    b = register(editions, other_merchant, prefix="B2")
    sell(editions, other_merchant, b, [consumer])
    sell(editions, merchant, a, [consumer] * 2)
    assert editions.serial_of(coupon_id_of(a, 2)) == "A1-000002"
    assert editions.serial_of(coupon_id_of(b, 1)) == "B2-000001"


def test_coupon_id_of(editions):
    assert editions.coupon_id_of(3, 42) == 3 * 2**32 + 42 == coupon_id_of(3, 42)
    for serial in (0, 2**32):
        with boa.reverts("editions: serial out of range"):
            editions.coupon_id_of(3, serial)


# --- transfer ---------------------------------------------------------------


def test_owner_transfers(editions, consumer, sold):
    friend, third = boa.env.generate_address(), boa.env.generate_address()
    with boa.env.prank(consumer):
        editions.transfer(sold[0], friend)
    log = editions.get_logs()[0]
    assert type(log).__name__ == "CouponTransferred"
    assert (log.coupon_id, log.sender, log.receiver, log.edition_id) == (
        sold[0],
        consumer,
        friend,
        1,
    )
    rec = editions.coupon(sold[0])
    assert (rec.owner, rec.status, rec.channel) == (friend, CouponStatus.ACTIVE, Channel.ONLINE)
    with boa.reverts("editions: caller is not the owner"), boa.env.prank(consumer):
        editions.transfer(sold[0], third)
    with boa.env.prank(friend):
        editions.transfer(sold[0], third)
    assert editions.coupon(sold[0]).owner == third


def test_transfer_rules(editions, merchant, consumer, sold, edition_id):
    with boa.reverts("editions: caller is not the owner"), boa.env.prank(merchant):
        editions.transfer(sold[0], merchant)
    with boa.reverts("editions: zero receiver"), boa.env.prank(consumer):
        editions.transfer(sold[0], ZERO)
    with boa.reverts("editions: unknown coupon"), boa.env.prank(consumer):
        editions.transfer(coupon_id_of(edition_id, 4), merchant)
    with boa.env.prank(merchant):
        editions.redeem(sold[0])
        editions.void(sold[1])
    with boa.reverts("editions: coupon already redeemed"), boa.env.prank(consumer):
        editions.transfer(sold[0], merchant)
    with boa.reverts("editions: coupon voided"), boa.env.prank(consumer):
        editions.transfer(sold[1], merchant)


# --- redemption -------------------------------------------------------------


@pytest.mark.parametrize("who", ["merchant", "terminal"])
def test_redeem_once(editions, consumer, sold, edition_id, actors, who):
    caller = actors[who]
    with boa.env.prank(caller):
        editions.redeem(sold[0])
    log = editions.get_logs()[0]
    assert type(log).__name__ == "CouponRedeemed"
    assert (log.edition_id, log.coupon_id, log.owner, log.by) == (
        edition_id,
        sold[0],
        consumer,
        caller,
    )
    assert editions.coupon(sold[0]).status == CouponStatus.REDEEMED
    assert editions.coupon(sold[0]).owner == consumer
    assert editions.edition(edition_id).redeemed == 1
    with boa.reverts("editions: coupon already redeemed"), boa.env.prank(caller):
        editions.redeem(sold[0])


@pytest.mark.parametrize("who", ["other_merchant", "other_terminal", "consumer", "platform"])
def test_only_the_merchant_and_its_terminals_redeem(editions, sold, actors, who):
    with boa.reverts("editions: caller may not redeem this coupon"), boa.env.prank(actors[who]):
        editions.redeem(sold[0])


def test_redeem_only_inside_the_window(editions, merchant, consumer):
    now = boa.env.timestamp
    eid = register(editions, merchant, valid_from=now + 100, valid_until=now + 200)
    sell(editions, merchant, eid, [consumer] * 3)
    with boa.reverts("editions: not yet valid"), boa.env.prank(merchant):
        editions.redeem(coupon_id_of(eid, 1))
    boa.env.time_travel(seconds=100)  # valid_from is inclusive
    with boa.env.prank(merchant):
        editions.redeem(coupon_id_of(eid, 1))
    boa.env.time_travel(seconds=99)
    with boa.env.prank(merchant):
        editions.redeem(coupon_id_of(eid, 2))
    boa.env.time_travel(seconds=1)  # valid_until is exclusive
    with boa.reverts("editions: expired"), boa.env.prank(merchant):
        editions.redeem(coupon_id_of(eid, 3))


def test_redeem_unknown_and_voided(editions, merchant, sold, edition_id):
    with boa.reverts("editions: unknown coupon"), boa.env.prank(merchant):
        editions.redeem(coupon_id_of(edition_id, 4))
    with boa.env.prank(merchant):
        editions.void(sold[0])
    with boa.reverts("editions: coupon voided"), boa.env.prank(merchant):
        editions.redeem(sold[0])


def test_redeem_batch_across_editions(editions, merchant, terminal, consumer, sold):
    eid = register(editions, merchant, prefix="MUG")
    sell(editions, merchant, eid, [consumer])
    batch = [sold[0], coupon_id_of(eid, 1), sold[2]]
    with boa.env.prank(terminal):
        editions.redeem_batch(batch)
    assert [log.coupon_id for log in editions.get_logs()] == batch
    assert {log.by for log in editions.get_logs()} == {terminal}
    assert editions.edition(1).redeemed == 2
    assert editions.edition(eid).redeemed == 1
    assert editions.coupon(sold[1]).status == CouponStatus.ACTIVE


@pytest.mark.parametrize(
    ("pick", "reason"),
    [
        (lambda s, other: [s[0], s[1], s[0]], "editions: coupon already redeemed"),
        (lambda s, other: [s[0], other], "editions: caller may not redeem this coupon"),
        (lambda s, other: [s[0], s[1] + 10], "editions: unknown coupon"),
    ],
)
def test_redeem_batch_is_all_or_nothing(
    editions, merchant, other_merchant, consumer, sold, edition_id, pick, reason
):
    eid = register(editions, other_merchant, prefix="MUG")
    sell(editions, other_merchant, eid, [consumer])
    with boa.reverts(reason), boa.env.prank(merchant):
        editions.redeem_batch(pick(sold, coupon_id_of(eid, 1)))
    assert editions.edition(edition_id).redeemed == 0
    assert editions.coupon(sold[0]).status == CouponStatus.ACTIVE


# --- void -------------------------------------------------------------------


def test_void_keeps_counts_truthful(editions, merchant, consumer, sold, edition_id):
    with boa.env.prank(merchant):
        editions.void(sold[1])
    log = editions.get_logs()[0]
    assert type(log).__name__ == "CouponVoided"
    assert (log.edition_id, log.coupon_id, log.owner, log.by) == (
        edition_id,
        sold[1],
        consumer,
        merchant,
    )
    e = editions.edition(edition_id)
    assert (e.sold, e.voided, e.redeemed) == (3, 1, 0)
    assert editions.remaining(edition_id) == 2
    assert editions.coupon(sold[1]).status == CouponStatus.VOIDED
    assert editions.serial_of(sold[1]) == "LATTE-000002"
    # The voided serial is never reissued.
    assert sell(editions, merchant, edition_id, [consumer]) == 4
    with boa.reverts("editions: coupon voided"), boa.env.prank(merchant):
        editions.void(sold[1])


@pytest.mark.parametrize("who", ["terminal", "other_merchant", "consumer"])
def test_only_the_merchant_account_voids(editions, sold, actors, who):
    reason = "editions: caller is not the edition's merchant"
    with boa.reverts(reason), boa.env.prank(actors[who]):
        editions.void(sold[0])


def test_redeemed_coupon_cannot_be_voided(editions, merchant, sold, edition_id):
    with boa.env.prank(merchant):
        editions.redeem(sold[0])
    with boa.reverts("editions: coupon already redeemed"), boa.env.prank(merchant):
        editions.void(sold[0])
    with boa.reverts("editions: unknown coupon"), boa.env.prank(merchant):
        editions.void(coupon_id_of(edition_id, 5))


def test_void_batch_is_all_or_nothing(editions, merchant, sold, edition_id):
    with boa.reverts("editions: coupon voided"), boa.env.prank(merchant):
        editions.void_batch([sold[0], sold[2], sold[0]])
    assert editions.edition(edition_id).voided == 0
    with boa.env.prank(merchant):
        editions.void_batch([sold[0], sold[2]])
    assert [log.coupon_id for log in editions.get_logs()] == [sold[0], sold[2]]
    e = editions.edition(edition_id)
    assert (e.sold, e.voided, e.redeemed) == (3, 2, 0)


# --- gas --------------------------------------------------------------------


def test_a_batch_of_1000_fits_a_block(editions, merchant, terminal):
    eid = register(editions, merchant, cap=2000)
    n = 1000
    buyers = [boa.env.generate_address() for _ in range(n)]
    with boa.env.prank(terminal):
        first = editions.record_sales(eid, buyers, [300] * n, [1] * n, [REF] * n)
        sale_gas = editions._computation.get_gas_used()
        editions.redeem_batch([coupon_id_of(eid, first + i) for i in range(n)])
        redeem_gas = editions._computation.get_gas_used()
    # Execution gas, without the 21,000 base and ~1,200 gas of calldata per sale.
    assert sale_gas < 27_000 * n
    assert redeem_gas < 6_000 * n
