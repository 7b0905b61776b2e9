"""The journal keys of running deployments must keep their format."""

from couponchain.services.op_keys import op_key


def test_an_operation_key_is_caller_request_key_and_what() -> None:
    assert op_key("p-7", "req-1", "sales") == "p-7:req-1:sales"
    assert op_key("p-7", "req-1", "referrals", "purchase") == "p-7:req-1:referrals:purchase"
    assert op_key("p-7", "req-1", "withdraw", "promotions") == "p-7:req-1:withdraw:promotions"


def test_without_a_request_key_there_is_none() -> None:
    assert op_key("p-7", None, "sales") is None
    assert op_key("p-7", "", "sales") is None
