"""The till's lookup by phone or e-mail (issue 24): how an identifier is normalised
before its keyed hash is taken, so the consumer's and the cashier's typing match."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from couponchain.services.customer_lookup import lookup_digest, normal_email, normal_phone


@pytest.mark.parametrize(("typed", "normal"), [
    ("+86 138 0000 0000", "8613800000000"),
    ("0086-138-0000-0000", "8613800000000"),
    ("+1 (415) 555.0100", "14155550100"),
    ("138 0000 0000", "13800000000"),  # no country code typed: kept as typed
    ("1234567", "1234567"),
])
def test_phone_numbers_keep_their_digits(typed: str, normal: str) -> None:
    assert normal_phone(typed) == normal


@pytest.mark.parametrize("typed", ["123456", "+1234567890123456", "mei", "13800000000x",
                                   "", "++8613800000000"])
def test_what_is_not_a_phone_number(typed: str) -> None:
    assert normal_phone(typed) is None


def test_e_mails_are_lower_cased_and_checked() -> None:
    assert normal_email(" Ann.Lee@Example.COM ") == "ann.lee@example.com"
    for bad in ("ann", "ann@", "@example.com", "ann@example", "a b@example.com",
                "x" * 250 + "@e.com"):
        assert normal_email(bad) is None, bad


def test_the_digest_is_keyed_and_names_the_kind() -> None:
    key = b"k" * 32
    assert lookup_digest(key, "phone", "8613800000000") == hmac.new(
        key, b"phone:8613800000000", hashlib.sha256).hexdigest()
    assert lookup_digest(key, "phone", "1") != lookup_digest(b"j" * 32, "phone", "1")
    assert lookup_digest(key, "phone", "1") != lookup_digest(key, "email", "1")
