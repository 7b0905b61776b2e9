"""One error root for CouponChain, with stdlib mixins.

Callers catch broadly (`CouponChainError`) or narrowly (`ValueError`,
`LookupError`, `PermissionError`). Domain and service code raise these; only the
API's handler turns them into HTTP problem details, and only the CLI turns them
into one-line messages.
"""

from __future__ import annotations


class CouponChainError(Exception):
    """Root of every error CouponChain raises on purpose."""

    #: Stable problem type slug, used in RFC 9457 `type` URIs.
    type: str = "error"
    status: int = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(CouponChainError, ValueError):
    """Input breaks a rule; `field` names the offending field."""

    type = "invalid-input"
    status = 422


class TooLarge(CouponChainError, ValueError):
    """The request is larger than the route accepts (bytes or JSON elements)."""

    type = "too-large"
    status = 413


class NotFound(CouponChainError, LookupError):
    """The named thing does not exist."""

    type = "not-found"
    status = 404


class Unauthorized(CouponChainError, PermissionError):
    """No credentials or unknown credentials."""

    type = "unauthorized"
    status = 401


class Forbidden(CouponChainError, PermissionError):
    """The caller's role may not do this."""

    type = "forbidden"
    status = 403


class Conflict(CouponChainError):
    """The request conflicts with the current state (sold out, already redeemed...)."""

    type = "conflict"
    status = 409


class IdempotencyMismatch(CouponChainError, ValueError):
    """An Idempotency-Key was reused with a different payload."""

    type = "idempotency-key-reused"
    status = 422


class ContractRevert(Conflict):
    """The contract refused the operation; `reason` is its revert string."""

    type = "contract-revert"

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason, field=field)
        self.reason = reason
        self.contract = reason.split(":", 1)[0] if ":" in reason else ""


class ChainUnavailable(CouponChainError, ConnectionError):
    """The chain node does not answer (yet); the operation is safe to retry."""

    type = "chain-unavailable"
    status = 503


class ReadModelsBehind(CouponChainError):
    """The read models are being rebuilt after the chain changed (a node that
    restarted and replayed); the request is safe to retry in a moment."""

    type = "read-models-behind"
    status = 503


class DatabaseBusy(CouponChainError):
    """Every database connection stayed busy for the pool's timeout (overload);
    the request is safe to retry with its Idempotency-Key."""

    type = "database-busy"
    status = 503


class TransactionRefused(CouponChainError):
    """The chain node refused a transaction outright (not a contract revert)."""

    type = "transaction-refused"
    status = 502


class ConfigurationError(CouponChainError, RuntimeError):
    """Settings are missing or unsafe."""

    type = "configuration"
