"""Pause, resume and extend an edition (issue 25): the merchant's changes, their
events, the sales they stop and the rules they keep."""

import boa
import pytest
from eth_utils import keccak

from conftest import deployer

DAY = 86_400
REF = b"\x42" * 32
WHY = keccak(text="stock count at the store")
ONLINE, OFFLINE = 1, 2


@pytest.fixture
def editions(registry, merchant):
    contract = deployer("editions").deploy(registry.address)
    now = boa.env.timestamp
    with boa.env.prank(merchant):
        contract.register_edition("Cafe", "Latte", "terms", "LATTE", 10, 300, now, now + DAY)
    return contract


def test_a_paused_edition_refuses_every_sale_until_resumed(editions, merchant, terminal,
                                                            consumer):
    with boa.env.prank(terminal):
        editions.record_sale(1, consumer, 300, OFFLINE, REF)
        rid = editions.reserve(1, 3, b"\x01" * 32, boa.env.timestamp + 600)
    with boa.env.prank(merchant):
        editions.pause(1, WHY)
    logs = editions.get_logs()
    assert [type(e).__name__ for e in logs] == ["EditionPaused"]
    assert (logs[0].edition_id, logs[0].by, logs[0].reason_hash) == (1, merchant, WHY)
    assert editions.paused(1)
    for seller in (merchant, terminal):
        with boa.env.prank(seller):
            with boa.reverts("editions: edition paused"):
                editions.record_sale(1, consumer, 300, ONLINE, REF)
            with boa.reverts("editions: edition paused"):
                editions.record_sales(1, [consumer] * 2, [300] * 2, [ONLINE, OFFLINE], [REF] * 2)
            with boa.reverts("editions: edition paused"):
                editions.reserve(1, 1, b"\x02" * 32, boa.env.timestamp + 600)
    with boa.env.prank(terminal), boa.reverts("editions: edition paused"):
        editions.record_reserved_sales(rid, [consumer], [300], [ONLINE], [REF])
    # What was sold keeps its promise: redeemed while paused; a reservation is released.
    with boa.env.prank(terminal):
        editions.redeem((1 << 32) | 1)
        assert editions.release(rid) == 3
    with boa.env.prank(merchant), boa.reverts("editions: edition paused"):
        editions.pause(1, WHY)  # once
    with boa.env.prank(merchant):
        editions.resume(1, WHY)
    logs = editions.get_logs()
    assert [(type(e).__name__, e.by) for e in logs] == [("EditionResumed", merchant)]
    assert not editions.paused(1)
    with boa.env.prank(merchant), boa.reverts("editions: edition not paused"):
        editions.resume(1, WHY)
    with boa.env.prank(terminal):
        assert editions.record_sale(1, consumer, 300, ONLINE, REF) == 2


def test_extend_moves_the_end_later_only(editions, merchant, terminal, consumer):
    old_end = editions.edition(1).valid_until
    with boa.env.prank(merchant):
        for end in (old_end, old_end - 1):
            with boa.reverts("editions: window may only be extended"):
                editions.extend(1, end, WHY)
        editions.extend(1, old_end + DAY, WHY)
    (event,) = editions.get_logs()
    assert (type(event).__name__, event.by, event.old_valid_until, event.valid_until,
            event.reason_hash) == ("EditionExtended", merchant, old_end, old_end + DAY, WHY)
    assert editions.edition(1).valid_until == old_end + DAY
    boa.env.time_travel(seconds=DAY + 10)  # past the old end: sells and redeems still
    with boa.env.prank(terminal):
        serial = editions.record_sale(1, consumer, 300, ONLINE, REF)
        editions.redeem((1 << 32) | serial)
    boa.env.time_travel(seconds=DAY)  # past the new end: nothing revives it
    with boa.env.prank(merchant), boa.reverts("editions: edition expired"):
        editions.extend(1, old_end + 5 * DAY, WHY)


def test_only_the_editions_merchant_changes_it_with_a_reason(editions, registry, platform,
                                                             merchant, other_merchant,
                                                             terminal, consumer):
    end = editions.edition(1).valid_until + DAY
    for caller in (other_merchant, terminal, consumer, platform):
        with boa.env.prank(caller):
            for call in (lambda: editions.pause(1, WHY), lambda: editions.resume(1, WHY),
                         lambda: editions.extend(1, end, WHY)):
                with boa.reverts():
                    call()
    with boa.env.prank(other_merchant), boa.reverts(
            "editions: caller is not the edition's merchant"):
        editions.pause(1, WHY)
    with boa.env.prank(merchant):
        with boa.reverts("editions: empty reason"):
            editions.pause(1, b"\x00" * 32)
        with boa.reverts("editions: unknown edition"):
            editions.pause(2, WHY)
    # The platform stops a contract through the registry's capability pause.
    with boa.env.prank(platform):
        registry.pause(editions.address, "incident")
    with boa.env.prank(merchant), boa.reverts():
        editions.pause(1, WHY)
    assert not editions.paused(1)
