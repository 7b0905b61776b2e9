"""EIP-712 messages a self-custodied participant signs with its own key (issue 23).

Five messages, each built here as the full `eth_signTypedData_v4` shape so the
browser (static/device-key-eip712.js), an injected wallet and this module sign
and check the very same bytes:

- `OwnKey(address account,string participant,uint256 expiry)` in the domain
  `{name: "CouponChain Accounts", version: "1", chainId}`: the proof that whoever
  asks to register `account` holds its key. Off chain only (no verifying
  contract); `participant` is the id of the consumer switching to its own key,
  or "" for a consumer a merchant or the platform creates with it.
- `Purchase(address buyer,uint256 product,uint256 quantity,uint256 batch,
  uint256 max_price,address promoter,uint256 nonce,uint256 expiry)` in the
  referrals contract's domain: a purchase through a promotion link (or in
  batch 1 with no promoter), checked by `referrals.purchase_signed_batch`.
- `Permit(address owner,address spender,uint256 value,uint256 nonce,uint256
  deadline)` (EIP-2612) in the token's domain: the allowance for exactly
  `quantity * max_price` that pays that one purchase, or for exactly the
  amount of a credit transfer to the platform's relaying account
  (a purchase's permit).
- `TransferWithAuthorization(address from,address to,uint256 value,uint256
  validAfter,uint256 validBefore,bytes32 nonce)` (EIP-3009) in the token's
  domain: a credit transfer whose recipient and amount the signature fixes
  (`credit_authorization_message`), relayed with `token.transferWithAuthorization`;
  `CancelAuthorization(address authorizer,bytes32 nonce)` voids one unused.
- `Withdraw(address account,uint256 deadline)` in the promotions contract's
  domain: the account's credited payout paid to itself, relayed with
  `promotions.withdraw_for` (`withdraw_message`).
- `CouponTransfer(uint256 coupon,address receiver,uint256 nonce,uint256 expiry)`
  in the promotions contract's domain: the holder passes a promotion coupon
  on, checked by `promotions.transfer_signed_batch`.

Signatures are 65-byte (r, s, v), low s: `eip712.sign_typed` and
`eip712.recover_typed` make and check them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import is_address, to_checksum_address

from couponchain.domain import eip712
from couponchain.errors import InvalidInput

_UINT256_MAX = 2**256 - 1
#: Longest lifetime of an ownership proof: it is made just before it is sent.
MAX_PROOF_LIFETIME = 600
#: Longest lifetime of a purchase intent (and of its permit), a credit permit or a
#: coupon transfer: a relayed action waits for the next batch, never for hours.
#: promotions.vy's `MAX_TRANSFER_LIFETIME` is the same bound for transfers.
MAX_INTENT_LIFETIME = 3600

OWN_KEY_TYPE: eip712.Fields = [
    {"name": "account", "type": "address"},
    {"name": "participant", "type": "string"},
    {"name": "expiry", "type": "uint256"},
]
PURCHASE_TYPE: eip712.Fields = [
    {"name": "buyer", "type": "address"},
    {"name": "product", "type": "uint256"},
    {"name": "quantity", "type": "uint256"},
    {"name": "batch", "type": "uint256"},
    {"name": "max_price", "type": "uint256"},
    {"name": "promoter", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "expiry", "type": "uint256"},
]
PERMIT_TYPE: eip712.Fields = [
    {"name": "owner", "type": "address"},
    {"name": "spender", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
TRANSFER_WITH_AUTHORIZATION_TYPE: eip712.Fields = [
    {"name": "from", "type": "address"},
    {"name": "to", "type": "address"},
    {"name": "value", "type": "uint256"},
    {"name": "validAfter", "type": "uint256"},
    {"name": "validBefore", "type": "uint256"},
    {"name": "nonce", "type": "bytes32"},
]
CANCEL_AUTHORIZATION_TYPE: eip712.Fields = [
    {"name": "authorizer", "type": "address"},
    {"name": "nonce", "type": "bytes32"},
]
WITHDRAW_TYPE: eip712.Fields = [
    {"name": "account", "type": "address"},
    {"name": "deadline", "type": "uint256"},
]
COUPON_TRANSFER_TYPE: eip712.Fields = [
    {"name": "coupon", "type": "uint256"},
    {"name": "receiver", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "expiry", "type": "uint256"},
]
#: The contracts' EIP-712 domain names, and the token's (snekmate erc20).
REFERRALS_DOMAIN = "CouponChain Referrals"
PROMOTIONS_DOMAIN = "CouponChain Promotions"
TOKEN_DOMAIN = "CouponChain Credit"


def _uint(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT256_MAX:
        raise InvalidInput(f"{field} must be an integer that fits in uint256", field=field)
    return value


def _address(value: Any, field: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise InvalidInput(f"{field} must be a chain address", field=field)
    return to_checksum_address(value)


def own_key_message(account: str, participant: str, expiry: int,
                    chain_id: int) -> dict[str, Any]:
    """The `OwnKey` proof the holder of `account` signs to register it."""
    return eip712.typed_data(
        "OwnKey", OWN_KEY_TYPE, eip712.domain("CouponChain Accounts", "1", chain_id),
        {"account": _address(account, "address"), "participant": participant,
         "expiry": _uint(expiry, "expiry")})


@dataclass(frozen=True, slots=True)
class PurchaseIntent:
    """What a self-custodied buyer agrees to pay for: `quantity` units of `product`
    in `batch` at no more than `max_price` each, through `promoter`'s link (the
    zero address in batch 1), once (`nonce`), until `expiry`."""

    buyer: str
    product: int
    quantity: int
    batch: int
    max_price: int
    promoter: str
    nonce: int
    expiry: int

    def __post_init__(self) -> None:
        for field in ("product", "quantity", "batch", "max_price", "nonce", "expiry"):
            _uint(getattr(self, field), field)
        object.__setattr__(self, "buyer", _address(self.buyer, "buyer"))
        object.__setattr__(self, "promoter", _address(self.promoter, "promoter"))

    @property
    def allowance(self) -> int:
        """The most this purchase may take from the buyer: what its permit allows."""
        return self.quantity * self.max_price

    def message(self) -> dict[str, Any]:
        """The intent's fields as the typed data's `message`."""
        return {"buyer": self.buyer, "product": self.product, "quantity": self.quantity,
                "batch": self.batch, "max_price": self.max_price, "promoter": self.promoter,
                "nonce": self.nonce, "expiry": self.expiry}


def purchase_message(intent: PurchaseIntent, chain_id: int, referrals: str) -> dict[str, Any]:
    """The full EIP-712 message of a purchase intent (the referrals contract's domain)."""
    return eip712.typed_data(
        "Purchase", PURCHASE_TYPE,
        eip712.domain(REFERRALS_DOMAIN, "1", chain_id, _address(referrals, "contract")),
        intent.message())


def permit_message(intent: PurchaseIntent, token_nonce: int, chain_id: int, token: str,
                   referrals: str) -> dict[str, Any]:
    """The EIP-2612 permit that lets the referrals contract take at most what the
    intent allows (`quantity * max_price`), until the intent's expiry."""
    return credit_permit_message(intent.buyer, referrals, intent.allowance, token_nonce,
                                 intent.expiry, chain_id, token)


def credit_permit_message(owner: str, spender: str, value: int, token_nonce: int,
                          deadline: int, chain_id: int, token: str) -> dict[str, Any]:
    """The EIP-2612 permit by which `owner` lets `spender` take exactly `value` of the
    settlement token, signed at the owner's current token nonce, usable until `deadline`."""
    return eip712.typed_data(
        "Permit", PERMIT_TYPE,
        eip712.domain(TOKEN_DOMAIN, "1", chain_id, _address(token, "contract")),
        {"owner": _address(owner, "owner"), "spender": _address(spender, "spender"),
         "value": _uint(value, "amount"), "nonce": _uint(token_nonce, "nonce"),
         "deadline": _uint(deadline, "deadline")})


def _nonce32(value: Any) -> str:
    """A 32-byte EIP-3009 nonce as 0x-prefixed hex (`InvalidInput`, field `nonce`)."""
    if isinstance(value, bytes):
        value = "0x" + value.hex()
    if not (isinstance(value, str) and len(value) == 66 and value[:2] == "0x"):
        raise InvalidInput("must be 32 bytes as 0x and 64 hex digits", field="nonce")
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidInput("must be 32 bytes as 0x and 64 hex digits", field="nonce") from None
    return value.lower()


def credit_authorization_message(owner: str, to: str, value: int, valid_after: int,
                                 valid_before: int, nonce: str | bytes, chain_id: int,
                                 token: str) -> dict[str, Any]:
    """The EIP-3009 `TransferWithAuthorization` by which `owner` sends exactly `value`
    of the settlement token to `to`, once (`nonce`, 32 bytes the owner picks), strictly
    between `valid_after` and `valid_before`: nobody who relays it can change either."""
    return eip712.typed_data(
        "TransferWithAuthorization", TRANSFER_WITH_AUTHORIZATION_TYPE,
        eip712.domain(TOKEN_DOMAIN, "1", chain_id, _address(token, "contract")),
        {"from": _address(owner, "from"), "to": _address(to, "to"),
         "value": _uint(value, "amount"), "validAfter": _uint(valid_after, "valid_after"),
         "validBefore": _uint(valid_before, "deadline"), "nonce": _nonce32(nonce)})


def cancel_authorization_message(authorizer: str, nonce: str | bytes, chain_id: int,
                                 token: str) -> dict[str, Any]:
    """The EIP-3009 `CancelAuthorization` that voids `authorizer`'s unused `nonce`."""
    return eip712.typed_data(
        "CancelAuthorization", CANCEL_AUTHORIZATION_TYPE,
        eip712.domain(TOKEN_DOMAIN, "1", chain_id, _address(token, "contract")),
        {"authorizer": _address(authorizer, "authorizer"), "nonce": _nonce32(nonce)})


@dataclass(frozen=True, slots=True)
class CouponTransfer:
    """A holder's order to pass promotion coupon `coupon` to `receiver`, once
    (`nonce`, one of the holder's transfer nonces), until `expiry`."""

    coupon: int
    receiver: str
    nonce: int
    expiry: int

    def __post_init__(self) -> None:
        for field in ("coupon", "nonce", "expiry"):
            _uint(getattr(self, field), field)
        object.__setattr__(self, "receiver", _address(self.receiver, "to"))


def coupon_transfer_message(transfer: CouponTransfer, chain_id: int,
                            promotions: str) -> dict[str, Any]:
    """The full EIP-712 message of a coupon transfer (the promotions contract's domain)."""
    return eip712.typed_data(
        "CouponTransfer", COUPON_TRANSFER_TYPE,
        eip712.domain(PROMOTIONS_DOMAIN, "1", chain_id, _address(promotions, "contract")),
        {"coupon": transfer.coupon, "receiver": transfer.receiver, "nonce": transfer.nonce,
         "expiry": transfer.expiry})


def withdraw_message(account: str, deadline: int, chain_id: int,
                     promotions: str) -> dict[str, Any]:
    """The `Withdraw(account, deadline)` by which `account` asks the promotions contract
    to pay it its credited payout (`withdraw_for`, relayed: the payee is always `account`)."""
    return eip712.typed_data(
        "Withdraw", WITHDRAW_TYPE,
        eip712.domain(PROMOTIONS_DOMAIN, "1", chain_id, _address(promotions, "contract")),
        {"account": _address(account, "account"), "deadline": _uint(deadline, "deadline")})
