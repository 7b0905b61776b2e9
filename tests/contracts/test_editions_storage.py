"""The slots `couponchain.domain.edition_slots` computes are where the editions
contract really keeps its data (what an EIP-1186 proof of them would show).

The base slots come from the compiler's layout output (`vyper -f layout`), the
struct member sizes from the compiler's own types; the values are read straight
from the EVM's storage after sales, transfers, redemptions and voids.
"""

import json
import subprocess
import sys
from pathlib import Path

import boa
import pytest
from eth_utils import keccak
from vyper.compiler.output import build_layout_output

from couponchain.domain.edition_slots import (
    EDITION_FIELD_OFFSETS,
    Channel,
    CouponStatus,
    LayoutError,
    coupon_id_of,
    coupon_slot,
    decode_coupon_word,
    edition_slot,
    layout_from_compiler,
    mapping_slot,
    proof_slots,
    reserved_slot,
    sales_digest_step,
    slot_key,
    split_coupon_id,
)

CONTRACTS = Path(__file__).resolve().parents[2] / "src" / "couponchain" / "contracts"
SOURCE = CONTRACTS / "editions.vy"
EDITIONS = boa.load_partial(str(SOURCE))
TERMS = "One free mug refill per visit."
REF = b"\x07" * 32


@pytest.fixture(scope="module")
def compiler_layout():
    """`vyper -f layout editions.vy`, exactly as the CLI prints it."""
    out = subprocess.run(
        [sys.executable, "-m", "vyper", "-f", "layout", "-p", str(CONTRACTS), str(SOURCE)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def layout(compiler_layout):
    return layout_from_compiler(compiler_layout)


@pytest.fixture
def editions(registry):
    return EDITIONS.deploy(registry.address)


def storage(contract, slot: int) -> int:
    return boa.env.get_storage(contract.address, slot)


def test_cli_layout_is_the_compilers_layout(compiler_layout):
    in_process = json.loads(json.dumps(build_layout_output(EDITIONS.compiler_data)))
    assert in_process["storage_layout"] == compiler_layout["storage_layout"]


def test_member_offsets_match_the_compiled_struct():
    module = EDITIONS.compiler_data.annotated_vyper_module._metadata["type"]
    struct = module.variables["_editions"].typ.value_type
    offsets, at = {}, 0
    for name, typ in struct.members.items():
        offsets[name] = at
        at += typ.storage_size_in_words
    assert offsets == dict(EDITION_FIELD_OFFSETS)


def test_layout_reader_refuses_another_contract():
    registry_layout = build_layout_output(
        boa.load_partial(str(CONTRACTS / "registry.vy")).compiler_data
    )
    with pytest.raises(LayoutError, match="_editions"):
        layout_from_compiler(registry_layout)
    with pytest.raises(LayoutError, match="no slot"):
        layout_from_compiler(
            {
                "_editions": {"type": "HashMap[uint256, Edition]"},
                "_coupons": {"type": "HashMap[uint256, uint256]", "slot": 2},
            }
        )


def test_edition_slots_hold_declared_data_and_counters(
    editions, layout, compiler_layout, merchant, terminal, consumer
):
    now = boa.env.timestamp
    with boa.env.prank(merchant):
        eid = editions.register_edition("Mugs", "Refill", TERMS, "MUG7", 9, 450, now, now + 1000)
        editions.record_sales(eid, [consumer] * 5, [450] * 5, [1] * 5, [REF] * 5)
    with boa.env.prank(terminal):
        editions.redeem_batch([coupon_id_of(eid, 1), coupon_id_of(eid, 2)])
    with boa.env.prank(merchant):
        editions.void(coupon_id_of(eid, 5))

    expected = {
        "merchant": int(merchant, 16),
        "cap": 9,
        "sold": 5,
        "voided": 1,
        "redeemed": 2,
        "price": 450,
        "valid_from": now,
        "valid_until": now + 1000,
        "content_hash": int.from_bytes(keccak(TERMS.encode()), "big"),
        "sales_digest": int.from_bytes(editions.edition(eid).sales_digest, "big"),
    }
    for field, value in expected.items():
        assert storage(editions, edition_slot(layout, eid, field)) == value, field
    # A string: its length, then its bytes left-aligned in the next slot.
    prefix_at = edition_slot(layout, eid, "prefix")
    assert storage(editions, prefix_at) == 4
    assert storage(editions, prefix_at + 1) == int.from_bytes(b"MUG7".ljust(32, b"\0"), "big")
    # The prefix index is a HashMap[bytes32, uint256] hashed the same way.
    prefix_key = int.from_bytes(keccak(b"MUG7"), "big")
    by_prefix = compiler_layout["storage_layout"]["_edition_by_prefix"]["slot"]
    assert storage(editions, mapping_slot(by_prefix, prefix_key)) == eid


def test_coupon_words_hold_owner_status_channel_and_time(editions, layout, merchant, consumer):
    friend = boa.env.generate_address("friend")
    now = boa.env.timestamp
    with boa.env.prank(merchant):
        eid = editions.register_edition("Mugs", "Refill", TERMS, "MUG", 9, 450, now, now + 1000)
        editions.record_sales(eid, [consumer] * 3, [450] * 3, [1, 2, 1], [REF] * 3)
    with boa.env.prank(consumer):
        editions.transfer(coupon_id_of(eid, 1), friend)
    with boa.env.prank(merchant):
        editions.redeem(coupon_id_of(eid, 2))
        editions.void(coupon_id_of(eid, 3))

    expected = {
        1: (friend, CouponStatus.ACTIVE, Channel.ONLINE),
        2: (consumer, CouponStatus.REDEEMED, Channel.OFFLINE),
        3: (consumer, CouponStatus.VOIDED, Channel.ONLINE),
    }
    for serial, (owner, status, channel) in expected.items():
        cid = coupon_id_of(eid, serial)
        word = decode_coupon_word(storage(editions, coupon_slot(layout, cid)))
        assert (word.owner, word.status, word.channel, word.sold_at) == (
            owner,
            status,
            channel,
            now,
        )
        record = editions.coupon(cid)
        assert (record.owner, record.status, record.channel) == (owner, status, channel)
        assert split_coupon_id(cid) == (record.edition_id, record.serial) == (eid, serial)
    assert storage(editions, coupon_slot(layout, coupon_id_of(eid, 4))) == 0


def test_a_word_written_at_the_computed_slot_is_the_coupon(editions, layout, merchant, consumer):
    """The reverse direction: the contract reads the coupon from our slot."""
    now = boa.env.timestamp
    with boa.env.prank(merchant):
        eid = editions.register_edition("Mugs", "Refill", TERMS, "MUG", 2**32 - 1, 1, now, now + 9)
        editions.record_sale(eid, consumer, 1, 1, REF)
    word = storage(editions, coupon_slot(layout, coupon_id_of(eid, 1)))
    far = coupon_id_of(eid, 4_000_000_000)
    boa.env.set_storage(editions.address, coupon_slot(layout, far), word)
    assert editions.coupon(far).owner == consumer
    assert editions.serial_of(far) == "MUG-4000000000"


def test_sales_digest_replays_from_the_events(editions, merchant, terminal, consumer):
    now = boa.env.timestamp
    with boa.env.prank(merchant):
        eid = editions.register_edition("Mugs", "Refill", TERMS, "MUG", 9, 450, now, now + 1000)
        editions.record_sale(eid, consumer, 400, 2, b"\x01" * 32)
    logs = list(editions.get_logs())
    boa.env.time_travel(seconds=60)
    with boa.env.prank(terminal):
        editions.record_sales(eid, [consumer, terminal], [1, 2**200], [1, 2], [REF, b"\xff" * 32])
    logs += editions.get_logs()

    digest = b"\0" * 32
    for log in logs:
        digest = sales_digest_step(
            digest,
            log.coupon_id,
            log.buyer,
            log.price,
            log.channel,
            log.order_ref,
            log.sold_at,
            log.seller,
        )
    assert editions.edition(eid).sales_digest == digest


def test_proof_slots_name_every_verified_slot(layout):
    slots = proof_slots(layout, 7, 42)
    assert set(slots) == {"merchant", "cap", "sold", "voided", "redeemed", "sales_digest", "coupon"}
    assert slots["sold"] == mapping_slot(layout.editions, 7) + 2
    assert slots["coupon"] == mapping_slot(layout.coupons, 7 * 2**32 + 42)
    assert slot_key(1) == "0x" + "00" * 31 + "01"
    assert len(slot_key(slots["coupon"])) == 66


def test_reserved_slot_holds_the_open_reservations(editions, layout, merchant, terminal, consumer):
    now = boa.env.timestamp
    with boa.env.prank(merchant):
        eid = editions.register_edition("Mugs", "Refill", TERMS, "MUG", 9, 450, now, now + 1000)
        editions.reserve(eid, 4, b"\x01" * 32, now + 600)
    with boa.env.prank(terminal):
        rid = editions.reserve(eid, 3, b"\x01" * 32, now + 600)
        editions.record_reserved_sales(rid, [consumer] * 2, [450] * 2, [1] * 2, [REF] * 2)
    assert storage(editions, reserved_slot(layout, eid)) == 5 == editions.reserved(eid)
    # The counters the proofs read did not move: sold counts the reserved sales.
    assert storage(editions, edition_slot(layout, eid, "sold")) == 2
    assert storage(editions, edition_slot(layout, eid, "cap")) == 9


def test_a_layout_before_reservations_still_reads(compiler_layout):
    old = {k: v for k, v in compiler_layout["storage_layout"].items()
           if k not in ("_reserved", "_reservations")}
    layout = layout_from_compiler(old)
    assert (layout.editions, layout.coupons, layout.reserved) == (
        old["_editions"]["slot"], old["_coupons"]["slot"], None)
    with pytest.raises(LayoutError, match="_reserved"):
        reserved_slot(layout, 1)
    with pytest.raises(LayoutError, match="_reserved"):
        layout_from_compiler({**old, "_reserved": {"type": "uint256", "slot": 9}})


def test_sales_digest_covers_reserved_sales(editions, merchant, consumer):
    now = boa.env.timestamp
    with boa.env.prank(merchant):
        eid = editions.register_edition("Mugs", "Refill", TERMS, "MUG", 9, 450, now, now + 1000)
        editions.record_sale(eid, consumer, 400, 2, b"\x01" * 32)
        logs = list(editions.get_logs())
        rid = editions.reserve(eid, 2, b"\x02" * 32, now + 600)
        editions.record_reserved_sales(rid, [consumer] * 2, [1, 2], [1, 2], [REF, REF])
        logs += [x for x in editions.get_logs() if type(x).__name__ == "CouponSold"]
    digest = b"\0" * 32
    for log in logs:
        digest = sales_digest_step(digest, log.coupon_id, log.buyer, log.price, log.channel,
                                   log.order_ref, log.sold_at, log.seller)
    assert editions.edition(eid).sales_digest == digest
