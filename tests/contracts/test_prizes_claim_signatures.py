"""A prize claim is recorded only with its winner's signature (issue 23).

Before, a claim carried nothing from the consumer: the campaign's merchant or
any eligible terminal could mark every award claimed. Each test here fails on
that contract (its claim functions took no signature at all).
"""

import boa
import pytest
from eth_account import Account
from eth_utils import keccak
from prizes_setup import (
    CLAIM_LIFETIME,
    NO_SIGNATURE,
    STATUS_AWARDED,
    STATUS_CLAIMED,
    build_world,
    claim_signature,
    keyed_consumer,
)

from conftest import deployer, quiet
from couponchain.domain import prize_claim_consent as claim_consent

ERR_NOT_SIGNED = "prizes: claim not signed by the consumer"
ERR_EXPIRED = "prizes: claim signature expired"
ERR_TOO_LONG = "prizes: claim signature lifetime too long"


@pytest.fixture(scope="module")
def world(platform, merchant, other_merchant, terminal):
    return build_world(platform, merchant, other_merchant, terminal)


@pytest.fixture
def alice(world):
    return world.consumers[0]


@pytest.fixture
def bob(world):
    return world.consumers[1]


def _sign(world, who, award_id, *, campaign=None, merchant=None, expiry=None, **domain):
    award = world.prizes.award_of(award_id)
    campaign = award.campaign_id if campaign is None else campaign
    merchant = merchant or world.prizes.campaign(campaign).merchant
    expiry = boa.env.timestamp + 60 if expiry is None else expiry
    return expiry, claim_signature(world.prizes, world.keys[who], award_id, campaign,
                                   merchant, expiry, **domain)


def _claim(world, caller, award_id, consumer, expiry, signature):
    with boa.env.prank(caller):
        world.prizes.claim_batch([award_id], [consumer], [expiry], [signature])


def test_an_eligible_terminal_cannot_claim_without_the_winners_signature(world, alice):
    cid = world.create()
    first = world.award(cid, [alice], [0])
    expiry = boa.env.timestamp + 60
    for caller in (world.terminal, world.merchant):
        with boa.reverts("ecdsa: invalid signature"):  # zero bytes recover to no one
            _claim(world, caller, first, alice, expiry, NO_SIGNATURE)
        # Signed by the caller itself, or by the platform: still not the winner.
        stranger = keyed_consumer("not the winner")
        forged = claim_signature(world.prizes, stranger, first, cid, world.merchant, expiry)
        with boa.reverts(ERR_NOT_SIGNED):
            _claim(world, caller, first, alice, expiry, forged)
    with boa.env.prank(world.merchant), boa.reverts(ERR_NOT_SIGNED):
        world.prizes.claim_batch_at([first], [alice], [world.terminal], [expiry],
                                    [claim_signature(world.prizes, keyed_consumer("x"), first,
                                                     cid, world.merchant, expiry)])
    assert world.prizes.award_of(first).status == STATUS_AWARDED
    _claim(world, world.terminal, first, alice, *_sign(world, alice, first))
    assert world.prizes.award_of(first).status == STATUS_CLAIMED


def test_a_signature_is_bound_to_its_award_campaign_and_merchant(
        world, alice, bob, other_merchant):
    cid = world.create(per_consumer_limit=3)
    first = world.award(cid, [alice, alice, bob], [0, 0, 0])
    # Alice's signature for her first award does not claim her second one.
    expiry, for_first = _sign(world, alice, first)
    with boa.reverts(ERR_NOT_SIGNED):
        _claim(world, world.terminal, first + 1, alice, expiry, for_first)
    # Nor does it claim another consumer's award (the consumer check comes first).
    with boa.reverts("prizes: consumer mismatch"):
        _claim(world, world.terminal, first + 2, alice, expiry, for_first)
    # A signature naming another campaign or merchant is not this claim's.
    for other in ({"campaign": cid + 1}, {"merchant": other_merchant}):
        expiry, wrong = _sign(world, alice, first, **other)
        with boa.reverts(ERR_NOT_SIGNED):
            _claim(world, world.terminal, first, alice, expiry, wrong)
    # The expiry is signed: moving it breaks the signature.
    expiry, good = _sign(world, alice, first)
    with boa.reverts(ERR_NOT_SIGNED):
        _claim(world, world.terminal, first, alice, expiry + 1, good)
    # Another deployment's or chain's signature is refused too.
    elsewhere = quiet(deployer("prizes").deploy(world.registry.address))
    for domain in ({"contract": elsewhere.address},
                   {"chain_id": boa.env.evm.patch.chain_id + 1}):
        expiry, wrong = _sign(world, alice, first, **domain)
        with boa.reverts(ERR_NOT_SIGNED):
            _claim(world, world.terminal, first, alice, expiry, wrong)
    _claim(world, world.terminal, first, alice, expiry, good)
    # Used once: the award is claimed, so the same signature cannot be replayed.
    with boa.reverts("prizes: award already claimed"):
        _claim(world, world.terminal, first, alice, expiry, good)


def test_a_signature_expires_and_its_lifetime_is_bounded(world, alice):
    cid = world.create(ends=boa.env.timestamp + 20 * 86_400)
    first = world.award(cid, [alice], [0])
    now = boa.env.timestamp
    expiry, signature = _sign(world, alice, first, expiry=now - 1)
    with boa.reverts(ERR_EXPIRED):
        _claim(world, world.terminal, first, alice, expiry, signature)
    longest = claim_consent.MAX_CLAIM_LIFETIME
    expiry, signature = _sign(world, alice, first, expiry=now + longest + 1)
    with boa.reverts(ERR_TOO_LONG):
        _claim(world, world.terminal, first, alice, expiry, signature)
    expiry, signature = _sign(world, alice, first, expiry=now + 30)
    boa.env.time_travel(seconds=31)
    with boa.reverts(ERR_EXPIRED):
        _claim(world, world.terminal, first, alice, expiry, signature)
    expiry, signature = _sign(world, alice, first, expiry=boa.env.timestamp)  # last second
    _claim(world, world.terminal, first, alice, expiry, signature)


def test_only_the_65_byte_low_s_form_is_accepted(world, alice):
    cid = world.create()
    first = world.award(cid, [alice], [0])
    expiry, signature = _sign(world, alice, first)
    with boa.reverts("prizes: signature must be 65 bytes"):
        _claim(world, world.terminal, first, alice, expiry, signature[:64])
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(signature[32:64], "big")
    flipped = signature[:32] + (n - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    with boa.reverts():  # the malleated twin of a good signature
        _claim(world, world.terminal, first, alice, expiry, flipped)
    _claim(world, world.terminal, first, alice, expiry, signature)


def test_batches_check_each_signature_and_lengths(world, alice, bob):
    cid = world.create(per_consumer_limit=2)
    first = world.award(cid, [alice, bob], [0, 0])
    expiries, signatures = world.signed([first, first + 1])
    with boa.env.prank(world.terminal):
        with boa.reverts("prizes: expiries length mismatch"):
            world.prizes.claim_batch([first, first + 1], [alice, bob], expiries[:1], signatures)
        with boa.reverts("prizes: signatures length mismatch"):
            world.prizes.claim_batch([first, first + 1], [alice, bob], expiries, signatures[:1])
        # Bob's signature swapped onto alice's claim: the batch fails whole.
        with boa.reverts(ERR_NOT_SIGNED):
            world.prizes.claim_batch([first, first + 1], [alice, bob], expiries,
                                     signatures[::-1])
    assert world.prizes.award_of(first).status == STATUS_AWARDED
    with boa.env.prank(world.merchant):
        with boa.reverts("prizes: expiries length mismatch"):
            world.prizes.claim_batch_at([first], [alice], [world.terminal], [], signatures[:1])
        world.prizes.claim_batch_at([first, first + 1], [alice, bob],
                                    [world.terminal, world.terminal], expiries, signatures)
    assert world.prizes.claims_of(cid, bob) == 1


def test_the_digest_and_domain_match_the_python_signer(world):
    """The contract's `claim_digest` is what domain/prize_claim_consent.py signs."""
    claim = claim_consent.PrizeClaimConsent(award=7, campaign=3, merchant=world.merchant,
                                            expiry=1_900_000_000)
    full = claim_consent.typed_data(claim, boa.env.evm.patch.chain_id, world.prizes.address)
    account = Account.from_key(keccak(text="digest check"))
    signed = Account.sign_typed_data(account.key, full_message=full)
    assert world.prizes.claim_digest(7, 3, world.merchant, 1_900_000_000) == bytes(
        signed.message_hash)
    assert world.prizes.eip712Domain()[1:5] == (
        "CouponChain Prizes", "1", boa.env.evm.patch.chain_id, world.prizes.address)
    assert CLAIM_LIFETIME < claim_consent.MAX_CLAIM_LIFETIME
