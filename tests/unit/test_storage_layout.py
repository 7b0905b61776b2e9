"""Slots from the compiler's layout: the same numbers the contracts' sources state."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from couponchain.chain.storage_layout import storage_layout
from couponchain.chain.verification import Outcome, address_of, iso, word_hex
from couponchain.domain.edition_slots import EDITION_FIELD_OFFSETS, LayoutError, mapping_slot


def test_struct_offsets_agree_with_the_editions_layout_written_by_hand() -> None:
    # edition_slots.EDITION_FIELD_OFFSETS was written from editions.vy's struct by hand;
    # the type checker's member sizes give the same offsets.
    assert dict(storage_layout("editions").structs["Edition"]) == dict(EDITION_FIELD_OFFSETS)


def test_strings_take_their_length_slot_and_data_slots() -> None:
    prizes = storage_layout("prizes")
    # Prize: name String[32] (length + 1 word), then quantity.
    assert prizes.structs["Prize"]["quantity"] == 2
    # Product: originator, name String[64] (length + 2 words), content_hash.
    assert storage_layout("referrals").structs["Product"]["content_hash"] == 4


def test_nested_maps_hash_twice_and_address_keys_are_words() -> None:
    layout = storage_layout("referrals")
    account = "0x" + "12" * 20
    base = layout.base("_holdings")
    expected = mapping_slot(mapping_slot(base, 7), int(account, 16)) + 3
    assert layout.slot("_holdings", 7, account, member="checkpoint") == expected
    report_ids = storage_layout("marketing")
    digest = "0x" + keccak(b"{}").hex()
    assert report_ids.slot("_report_ids", digest) == mapping_slot(
        report_ids.base("_report_ids"), int(digest, 16))


def test_a_missing_variable_or_another_type_is_refused() -> None:
    layout = storage_layout("promotions")
    with pytest.raises(LayoutError, match="no `_nothing`"):
        layout.base("_nothing")
    with pytest.raises(LayoutError, match="not `uint8`"):
        layout.base("next_coupon_id", "uint8")
    with pytest.raises(LayoutError, match="no member"):
        storage_layout("marketing").slot("_reports", 1, member="nothing")


def test_an_unproven_value_never_passes() -> None:
    out = Outcome()
    out.same("a", None, None)
    out.same("b", "0xAB", "0xab")
    out.same("c", 1, 2)
    assert [v.ok for v in out.verdicts] == [False, True, False]
    assert address_of(None) is None and word_hex(None) is None and iso(None) is None
    assert address_of(2**160 + 1) == "0x0000000000000000000000000000000000000001"
