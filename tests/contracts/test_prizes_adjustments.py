"""Adjusting a running campaign: window end, stock, eligible terminals (issue 27).

A campaign could not be changed once created. Each change is the campaign's
merchant's, refused once the campaign ended, and logged with who made it and
the hash of its reason.
"""

import boa
import pytest
from eth_utils import keccak
from prizes_setup import DAY, build_world

ERR_NOT_CAMPAIGN_MERCHANT = "prizes: caller is not the campaign's merchant"
ERR_ENDED = "prizes: campaign ended"
REASON = keccak(text="the supplier sent more mugs")


@pytest.fixture(scope="module")
def world(platform, merchant, other_merchant, terminal):
    return build_world(platform, merchant, other_merchant, terminal)


@pytest.fixture
def alice(world):
    return world.consumers[0]


def _events(contract, name):
    return [e for e in contract.get_logs() if type(e).__name__ == name]


def _as(who, fn, *args):
    with boa.env.prank(who):
        return fn(*args)


def test_the_window_end_moves_either_way_and_is_logged(world, alice):
    now = boa.env.timestamp
    cid = world.create(starts=now, ends=now + DAY)
    first = world.award(cid, [alice, alice], [0, 0])
    _as(world.merchant, world.prizes.change_window, cid, now + 3 * DAY, REASON)
    (event,) = _events(world.prizes, "WindowChanged")
    assert (event.campaign_id, event.by, event.starts, event.old_ends, event.ends,
            event.reason_hash) == (cid, world.merchant, now, now + DAY, now + 3 * DAY, REASON)
    assert world.prizes.campaign(cid).ends == now + 3 * DAY
    boa.env.time_travel(seconds=2 * DAY)  # past the old end: still open
    world.claim([first], [alice])
    # Shortened to end in a minute: a claim after that is refused.
    _as(world.merchant, world.prizes.change_window, cid, boa.env.timestamp + 60, REASON)
    boa.env.time_travel(seconds=60)
    with boa.reverts("prizes: claim window closed"):
        world.claim([first + 1], [alice])


def test_window_changes_are_refused_by_rule(world, other_merchant):
    now = boa.env.timestamp
    cid = world.create(starts=now + 100, ends=now + DAY)
    for caller in (world.terminal, other_merchant):
        with boa.reverts(ERR_NOT_CAMPAIGN_MERCHANT):
            _as(caller, world.prizes.change_window, cid, now + 2 * DAY, REASON)
    with boa.reverts("prizes: unknown campaign"):
        _as(world.merchant, world.prizes.change_window, cid + 1, now + 2 * DAY, REASON)
    with boa.reverts("prizes: window end not in the future"):
        _as(world.merchant, world.prizes.change_window, cid, now, REASON)
    with boa.reverts("prizes: empty or inverted window"):
        _as(world.merchant, world.prizes.change_window, cid, now + 100, REASON)
    with boa.reverts("prizes: no reason"):
        _as(world.merchant, world.prizes.change_window, cid, now + 2 * DAY, bytes(32))
    boa.env.time_travel(seconds=DAY)
    with boa.reverts(ERR_ENDED):  # ended: nothing revives it
        _as(world.merchant, world.prizes.change_window, cid, now + 3 * DAY, REASON)


def test_stock_goes_up_or_down_to_the_live_awards(world, alice):
    cid = world.create(quantities=[2, 1])
    world.award(cid, [alice, alice], [0, 0])
    with boa.reverts("prizes: prize out of stock"):
        world.award(cid, [alice], [0])
    _as(world.merchant, world.prizes.change_stock, cid, 0, 5, REASON)
    (event,) = _events(world.prizes, "StockChanged")
    assert (event.campaign_id, event.by, event.prize_index, event.old_quantity, event.quantity,
            event.reason_hash) == (cid, world.merchant, 0, 2, 5, REASON)
    assert tuple(world.prizes.prize(cid, 0))[1:] == (5, 2, 0, 0)
    world.award(cid, [alice], [0])
    with boa.reverts("prizes: stock below awarded"):
        _as(world.merchant, world.prizes.change_stock, cid, 0, 2, REASON)
    _as(world.merchant, world.prizes.change_stock, cid, 0, 3, REASON)  # down to the awards
    with boa.reverts("prizes: prize out of stock"):
        world.award(cid, [alice], [0])
    assert tuple(world.prizes.prize(cid, 0))[1:] == (3, 3, 0, 0)


def test_stock_changes_are_refused_by_rule(world):
    cid = world.create(quantities=[2, 1])
    with boa.reverts(ERR_NOT_CAMPAIGN_MERCHANT):
        _as(world.terminal, world.prizes.change_stock, cid, 0, 5, REASON)
    for index, quantity, error in ((2, 5, "prizes: unknown prize"),
                                   (0, 0, "prizes: zero quantity"),
                                   (0, 2**64, "prizes: quantity too large")):
        with boa.reverts(error):
            _as(world.merchant, world.prizes.change_stock, cid, index, quantity, REASON)
    with boa.reverts("prizes: no reason"):
        _as(world.merchant, world.prizes.change_stock, cid, 0, 5, bytes(32))
    boa.env.time_travel(seconds=DAY)
    with boa.reverts(ERR_ENDED):
        _as(world.merchant, world.prizes.change_stock, cid, 0, 5, REASON)


def test_terminals_are_added_removed_and_opened_to_all(world, alice):
    cid = world.create(terminals=[world.terminal], per_consumer_limit=3)
    first = world.award(cid, [alice] * 3, [0, 0, 0])
    with boa.reverts("prizes: terminal not eligible"):
        world.claim([first], [alice], caller=world.second_terminal)
    _as(world.merchant, world.prizes.change_terminals, cid, [world.second_terminal],
        [world.terminal], False, REASON)
    (event,) = _events(world.prizes, "TerminalsChanged")
    assert (event.campaign_id, event.by, list(event.added), list(event.removed),
            event.all_terminals, event.reason_hash) == (
        cid, world.merchant, [world.second_terminal], [world.terminal], False, REASON)
    assert not world.prizes.terminal_eligible(cid, world.terminal)
    with boa.reverts("prizes: terminal not eligible"):
        world.claim([first], [alice], caller=world.terminal)
    world.claim([first], [alice], caller=world.second_terminal)
    _as(world.merchant, world.prizes.change_terminals, cid, [], [], True, REASON)
    world.claim([first + 1], [alice], caller=world.terminal)  # every terminal now
    _as(world.merchant, world.prizes.change_terminals, cid, [], [world.second_terminal],
        False, REASON)
    with boa.reverts("prizes: terminal not eligible"):
        world.claim([first + 2], [alice], caller=world.second_terminal)
    world.claim([first + 2], [alice], caller=world.merchant)  # the merchant always may


def test_terminal_changes_are_refused_by_rule(world, alice, other_merchant):
    cid = world.create(terminals=[world.terminal])
    change = world.prizes.change_terminals
    with boa.reverts(ERR_NOT_CAMPAIGN_MERCHANT):
        _as(world.terminal, change, cid, [world.second_terminal], [], False, REASON)
    for added, removed, error in (
            ([alice], [], "prizes: not a terminal"),
            ([world.other_terminal], [], "prizes: terminal of another merchant"),
            ([world.terminal], [], "prizes: duplicate terminal"),
            ([world.second_terminal] * 2, [], "prizes: duplicate terminal"),
            ([], [world.second_terminal], "prizes: terminal not listed"),
            ([], [world.terminal, world.terminal], "prizes: terminal not listed")):
        with boa.reverts(error):
            _as(world.merchant, change, cid, added, removed, False, REASON)
    assert world.prizes.terminal_eligible(cid, world.terminal)  # all or nothing
    with boa.reverts("prizes: no reason"):
        _as(world.merchant, change, cid, [world.second_terminal], [], False, bytes(32))
    boa.env.time_travel(seconds=DAY)
    with boa.reverts(ERR_ENDED):
        _as(world.merchant, change, cid, [world.second_terminal], [], False, REASON)
