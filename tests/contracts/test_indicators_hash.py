"""marketing.vy: a rule's commitment to its merchant-defined indicators.

The definitions stay off chain; the rule stores the keccak256 of their
canonical JSON (`indicator_language.definitions_hash`), which anyone holding
the definitions recomputes and compares with `rule_indicators_hash`.
"""

import boa
import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import deployer
from couponchain.domain import indicator_language as lang

DEFINITIONS = {
    "claim_rate": 'count(claims, window=7d) / count(views where method="app", window=7d)'}
ERR_HASHES = "marketing: one indicator hash per rule"
HOUR = 3600


@pytest.fixture
def marketing(registry):
    return deployer("marketing").deploy(registry.address)


def _events(contract, name):
    return [log for log in contract.get_logs() if type(log).__name__ == name]


def test_a_rule_records_the_hash_of_its_definitions(marketing, merchant):
    digest = lang.definitions_hash(DEFINITIONS)
    # The hash is of the canonical JSON anyone can rebuild from the text shown.
    assert digest == keccak(
        b'[{"expression":"count(claims, window=7d) / count(views where method=\\"app\\", '
        b'window=7d)","name":"claim_rate"}]')
    with boa.env.prank(merchant):
        version = marketing.set_reporting_rules_with_indicators(
            b'{"rules":[]}', [(boa.env.timestamp, HOUR), (0, 0)], [digest, bytes(32)])
    (logged,) = _events(marketing, "RuleIndicators")  # the logs of the last call
    assert (logged.rule_id, logged.merchant, logged.indicators_hash) == (1, merchant, digest)
    assert version == 1
    assert marketing.rule_indicators_hash(1) == digest
    assert marketing.rule_indicators_hash(2) == bytes(32)  # catalogue indicators only


def test_changed_text_gives_another_hash(marketing, merchant):
    changed = {"claim_rate": DEFINITIONS["claim_rate"].replace("7d", "8d")}
    with boa.env.prank(merchant):
        marketing.set_reporting_rules_with_indicators(
            b'{"rules":[]}', [(0, 0)], [lang.definitions_hash(DEFINITIONS)])
    assert marketing.rule_indicators_hash(1) != lang.definitions_hash(changed)


def test_hashes_are_one_per_rule_or_none(marketing, merchant):
    with boa.env.prank(merchant), boa.reverts(ERR_HASHES):
        marketing.set_reporting_rules_with_indicators(
            b'{"rules":[]}', [(0, 0), (0, 0)], [b"\x01" * 32])
    with boa.env.prank(merchant):
        marketing.set_reporting_rules_with_indicators(b'{"rules":[]}', [(0, 0)], [])
        marketing.set_reporting_rules(b'{"rules":[]}', [(0, 0)])
    assert _events(marketing, "RuleIndicators") == []
    assert marketing.rule_indicators_hash(1) == marketing.rule_indicators_hash(2) == bytes(32)


def test_only_a_merchant_commits_to_indicators(marketing, platform, terminal):
    for caller in (platform, terminal):
        with boa.env.prank(caller), boa.reverts("marketing: caller is not a merchant"):
            marketing.set_reporting_rules_with_indicators(
                b'{"rules":[]}', [(0, 0)], [b"\x01" * 32])


@settings(max_examples=10)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
                       st.text(max_size=40), min_size=1, max_size=3))
def test_the_hash_is_order_free_and_stored_as_given(marketing, merchant, definitions):
    digest = lang.definitions_hash(definitions)
    assert digest == lang.definitions_hash(dict(reversed(list(definitions.items()))))
    with boa.env.anchor(), boa.env.prank(merchant):
        marketing.set_reporting_rules_with_indicators(b"{}", [(0, 0)], [digest])
        assert marketing.rule_indicators_hash(marketing.rule_count()) == digest


def test_a_paused_contract_or_suspended_merchant_commits_nothing(registry, marketing, platform,
                                                                 merchant):
    from test_registry_standing import PAUSED, SUSPENDED, pause, suspend

    digest = lang.definitions_hash(DEFINITIONS)
    with boa.env.anchor():
        pause(registry, platform, marketing)
        with boa.env.prank(merchant), boa.reverts(PAUSED):
            marketing.set_reporting_rules_with_indicators(b"{}", [(0, 0)], [digest])
    suspend(registry, platform, merchant)
    with boa.env.prank(merchant), boa.reverts(SUSPENDED):
        marketing.set_reporting_rules_with_indicators(b"{}", [(0, 0)], [digest])
