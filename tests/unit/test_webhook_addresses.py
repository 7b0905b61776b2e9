"""The webhook address policy's rules, address by address (no I/O)."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from couponchain.errors import ConfigurationError
from couponchain.services.webhook_addresses import AllowList, Target, refusal


@pytest.mark.parametrize(("address", "why"), [
    ("0.0.0.0", "an unspecified address"),
    ("0.255.0.1", "an unspecified address"),
    ("::", "an unspecified address"),
    ("127.0.0.1", "a loopback address"),
    ("127.255.255.254", "a loopback address"),
    ("::1", "a loopback address"),
    ("169.254.169.254", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("224.0.0.251", "a multicast address"),
    ("ff05::2", "a multicast address"),
    ("100.64.0.1", "a shared (carrier-grade NAT) address"),
    ("100.127.255.254", "a shared (carrier-grade NAT) address"),
    ("10.1.2.3", "a private address"),
    ("172.31.0.1", "a private address"),
    ("192.168.0.1", "a private address"),
    ("fc00::1", "a private address"),
    ("fdff::1", "a private address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a reserved address"),
    ("192.0.2.1", "a private address"),  # documentation ranges count as private
    ("::ffff:10.0.0.1", "an IPv6 form of 10.0.0.1, a private address"),
    ("::ffff:7f00:1", "an IPv6 form of 127.0.0.1, a loopback address"),
    ("64:ff9b::a9fe:a9fe", "an IPv6 form of 169.254.169.254, a link-local address"),
    ("2002:7f00:1::", "an IPv6 form of 127.0.0.1, a loopback address"),
])
def test_every_internal_class_is_refused(address: str, why: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700::1111",
                                     "::ffff:1.1.1.1", "100.128.0.1", "172.32.0.1"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_the_allow_list_takes_hosts_addresses_and_networks() -> None:
    allowed = AllowList.parse(" Hooks.Internal. , 10.0.0.0/8,::1, 127.0.0.1 ,")
    assert allowed.allows_host("hooks.internal") and allowed.allows_host("HOOKS.internal.")
    assert not allowed.allows_host("other.internal")
    for inside in ("10.9.8.7", "::1", "127.0.0.1"):
        assert allowed.allows_address(ipaddress.ip_address(inside))
    for outside in ("127.0.0.2", "11.0.0.1", "::2"):
        assert not allowed.allows_address(ipaddress.ip_address(outside))
    assert AllowList.parse("") == AllowList()


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "bad host", "a/b", "x;y"])
def test_a_bad_allow_list_entry_is_a_configuration_error(entry: str) -> None:
    with pytest.raises(ConfigurationError, match="WEBHOOK_ALLOW_HOSTS"):
        AllowList.parse(f"localhost,{entry}")


def test_the_request_goes_to_the_checked_address_for_the_urls_host() -> None:
    tls = Target(httpx.URL("https://hooks.example.org:8443/in?x=1"),
                 ipaddress.ip_address("2606:4700::1111")).request_args()
    assert str(tls["url"]) == "https://[2606:4700::1111]:8443/in?x=1"
    assert tls["headers"] == {"Host": "hooks.example.org:8443"}
    assert tls["extensions"] == {"sni_hostname": "hooks.example.org"}
    plain = Target(httpx.URL("http://hooks.example.org/in"),
                   ipaddress.ip_address("93.184.215.14")).request_args()
    assert str(plain["url"]) == "http://93.184.215.14/in"
    assert plain["headers"] == {"Host": "hooks.example.org"} and plain["extensions"] == {}
