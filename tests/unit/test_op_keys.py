"""The journal keys of running deployments must keep their format."""

from couponchain.domain.op_keys import op_key, platform_key, request_part


def test_an_operation_key_is_caller_request_key_and_what() -> None:
    assert op_key("p-7", "req-1", "sales") == "p-7:req-1:sales"
    assert op_key("p-7", "req-1", "referrals", "purchase") == "p-7:req-1:referrals:purchase"
    assert op_key("p-7", "req-1", "withdraw", "promotions") == "p-7:req-1:withdraw:promotions"


def test_without_a_request_key_there_is_none() -> None:
    assert op_key("p-7", None, "sales") is None
    assert op_key("p-7", "", "sales") is None


def test_a_part_of_a_request_is_keyed_under_the_request_key() -> None:
    assert request_part("req-1", "bulk", 3) == "req-1:bulk:3"
    assert request_part("req-1", 0) == "req-1:0"
    assert op_key("p-7", request_part("req-1", 2), "grant") == "p-7:req-1:2:grant"
    assert request_part(None, "bulk") is None
    assert request_part("", 1) is None


def test_the_platforms_own_operations_are_keyed_by_what_they_are() -> None:
    assert platform_key("prize-claim", 17) == "prize-claim:17"
    assert platform_key("deploy", 1337, "editions") == "deploy:1337:editions"
