"""Where a webhook may go: public addresses only, unless the operator allows a host.

A merchant chooses its webhook's URL and the platform POSTs to it from inside
the operator's network: left unchecked, that lets any merchant make requests to
the operator's loopback services, private networks and the cloud metadata
endpoint (server-side request forgery), and the delivery log would tell it
which ports answer. So a webhook's host is resolved and every address it
resolves to must be publicly routable: loopback, unspecified (`0.0.0.0/8`,
`::`), link-local (`169.254/16`, `fe80::/10`), private (`10/8`, `172.16/12`,
`192.168/16`, `fc00::/7`), shared (`100.64/10`), multicast, reserved and
documentation ranges are refused, also when written as an IPv4-mapped,
6to4 or NAT64 IPv6 address. The operator may allow its own receivers with
`COUPONCHAIN_WEBHOOK_ALLOW_HOSTS` (host names or CIDRs, comma-separated).

The check runs when the URL is set (`check` raises `InvalidInput` naming `url`
and the rule) and again before every delivery, whose connection then goes to
the address that was checked (`Target.request_args`): a DNS answer that changes
between the check and the connection (DNS rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from couponchain.errors import ConfigurationError, InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Resolves a host name (never an address literal) to its addresses, as text.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not private in 3.11
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(InvalidInput):
    """A webhook URL whose host is (or resolves to) an address the policy refuses."""


class Unresolvable(InvalidInput):
    """A webhook URL whose host name does not resolve."""


def refusal(address: Address) -> str | None:
    """Why the address is refused (`"a loopback address"`...), None for a public one."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        why = refusal(inner)
        return f"an IPv6 form of {inner}, {why}" if why else None
    if address.is_unspecified or address in _THIS_NETWORK:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a publicly routable address"
    return None


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AllowList:
    """The operator's exceptions: host names (any address) and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> AllowList:
        """`"localhost, 127.0.0.0/8, ::1"`: each entry a CIDR, an address or a host name."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in (e.strip() for e in text.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                if "/" in entry or not all(p.isalnum() or p in "-_." for p in entry):
                    raise ConfigurationError(
                        f"COUPONCHAIN_WEBHOOK_ALLOW_HOSTS: {entry!r} is neither a host "
                        "name nor a CIDR", field="webhook_allow_hosts") from None
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        """True for a host the operator allows whatever it resolves to."""
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: Address) -> bool:
        """True for an address inside an allowed network."""
        return any(address in n for n in self.networks)


async def resolve_system(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (getaddrinfo, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the address its delivery connects to."""

    url: httpx.URL
    address: Address

    def request_args(self) -> dict[str, Any]:
        """`url`, `headers` and `extensions` for httpx: the connection goes to the
        checked address while the Host header and the TLS server name (certificate
        check included) stay the URL's host."""
        pinned = self.url.copy_with(host=str(self.address))
        extensions = {"sni_hostname": self.url.host} if self.url.scheme == "https" else {}
        return {"url": pinned, "headers": {"Host": self.url.netloc.decode("ascii")},
                "extensions": extensions}


class AddressGuard:
    """Checks webhook URLs against the address policy; `resolver` is the DNS it asks."""

    def __init__(self, allow: Callable[[], str], timeout: Callable[[], float],
                 resolver: Resolver = resolve_system) -> None:
        self._allow_text = allow
        self._timeout = timeout
        self.resolver = resolver
        self._parsed: tuple[str, AllowList] = ("", AllowList())

    @property
    def allowed(self) -> AllowList:
        """The allow-list as the settings say now (parsed once per change)."""
        text = self._allow_text()
        if text != self._parsed[0]:
            self._parsed = (text, AllowList.parse(text))
        return self._parsed[1]

    async def check(self, url: str) -> Target:
        """The URL's target if every address of its host passes the policy.

        Raises `InvalidInput` (field `url`): not an http(s) URL with a host,
        `Unresolvable`, or `AddressRefused` naming the rule broken, e.g.
        "resolves to a private address". The address of a host name is not
        named: that would answer what the operator's internal names resolve to.
        """
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise InvalidInput(f"is not a valid URL ({exc})", field="url") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise InvalidInput("must be an http or https URL with a host", field="url")
        host = parsed.host
        allowed = self.allowed
        literal = _literal(host)
        addresses = [literal] if literal is not None \
            else await self._resolve(host, parsed.port or _default_port(parsed))
        if not allowed.allows_host(host):
            for address in addresses:
                why = None if allowed.allows_address(address) else refusal(address)
                if why is not None:
                    said = "is" if literal is not None else "resolves to"
                    raise AddressRefused(f"{host} {said} {why}: webhooks reach public "
                                         "addresses only", field="url")
        return Target(parsed, addresses[0])

    async def _resolve(self, host: str, port: int) -> list[Address]:
        try:
            found = await asyncio.wait_for(self.resolver(host, port), self._timeout())
            addresses = [ipaddress.ip_address(a) for a in found]
        except (OSError, TimeoutError, ValueError, UnicodeError):
            addresses = []
        if not addresses:
            raise Unresolvable(f"{host} does not resolve", field="url")
        return addresses


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80
