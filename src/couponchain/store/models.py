"""SQLAlchemy models.

Three families live here:
- credentials (`Participant`): off-chain secrets of each participant;
- the chain journal (`ChainTx`, `ChainOp`, `Deployment`): what the gateway signed,
  in order, before broadcasting it; the node's state is rebuilt from it;
- read models (`ChainEvent`, `IndexedBlock`, projections): built from chain events
  only, by the indexer, and rebuildable at any time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Participant(Base):
    """A participant's credentials: chain key (encrypted) and API key (hashed)."""

    __tablename__ = "participants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(42), unique=True)
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("participants.id"), index=True)
    encrypted_key: Mapped[bytes] = mapped_column(LargeBinary)
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(32))
    #: The creator's Idempotency-Key, so a retried creation reuses this row.
    creation_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChainTx(Base):
    """One signed transaction in the journal; `id` is the journal order."""

    __tablename__ = "chain_txs"
    __table_args__ = (UniqueConstraint("account", "nonce"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    account: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    to: Mapped[str | None] = mapped_column(String(42))
    #: signed -> confirmed | reverted
    status: Mapped[str] = mapped_column(String(12), default="signed", index=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, index=True)
    tx_index: Mapped[int | None] = mapped_column(Integer)
    block_timestamp: Mapped[int | None] = mapped_column(BigInteger)
    revert_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChainOp(Base):
    """One operation carried by a journal transaction (a batch carries many)."""

    __tablename__ = "chain_ops"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    tx_id: Mapped[int] = mapped_column(ForeignKey("chain_txs.id"), index=True)
    item_index: Mapped[int] = mapped_column(Integer)
    #: Caller-scoped idempotency key; a retry finds the op instead of repeating it.
    op_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(80))
    payload_hash: Mapped[str] = mapped_column(String(64))
    #: pending -> done | failed (the contract refused it; `error` says why)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    error: Mapped[str | None] = mapped_column(String(500))


class Deployment(Base):
    """Where a contract lives on a chain."""

    __tablename__ = "deployments"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    address: Mapped[str] = mapped_column(String(42))
    source_hash: Mapped[str] = mapped_column(String(64))
    tx_hash: Mapped[str] = mapped_column(String(66))


class IdempotencyRecord(Base):
    """The stored response of a write made with an Idempotency-Key."""

    __tablename__ = "idempotency_records"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    #: pending while the first request runs; done once its response is stored.
    state: Mapped[str] = mapped_column(String(8), default="pending")
    locked_until: Mapped[float] = mapped_column(default=0.0)
    response_status: Mapped[int | None] = mapped_column(Integer)
    #: Encrypted: a response may carry a secret shown once (a new API key).
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IndexedBlock(Base):
    """Blocks the indexer has read, to notice a changed hash (reorg or node reset)."""

    __tablename__ = "indexed_blocks"

    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(66))


class ChainEvent(Base):
    """Every decoded contract event, append-only; projections derive from it."""

    __tablename__ = "chain_events"
    __table_args__ = (
        UniqueConstraint("block_hash", "log_index"),
        Index("ix_chain_events_contract_event", "contract", "event"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66), index=True)
    block_timestamp: Mapped[int] = mapped_column(BigInteger)
    contract: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(60))
    args: Mapped[dict] = mapped_column(JSON)


class ParticipantRecord(Base):
    """Read model: participants as the registry contract knows them."""

    __tablename__ = "participant_records"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    role: Mapped[int] = mapped_column(Integer)
    merchant: Mapped[str | None] = mapped_column(String(42), index=True)
    registrar: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class EditionTerms(Base):
    """The full terms text of an edition, kept by the platform; the chain keeps its hash."""

    __tablename__ = "edition_terms"

    content_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EditionRecord(Base):
    """Read model: a limited edition with its counters, from the editions contract."""

    __tablename__ = "edition_records"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    merchant: Mapped[str] = mapped_column(String(42), index=True)
    brand: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    cap: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[str] = mapped_column(String(78))
    valid_from: Mapped[int] = mapped_column(BigInteger)
    valid_until: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(66))
    sold: Mapped[int] = mapped_column(BigInteger, default=0)
    voided: Mapped[int] = mapped_column(BigInteger, default=0)
    redeemed: Mapped[int] = mapped_column(BigInteger, default=0)
    registered_at: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class CouponRecord(Base):
    """Read model: one sold coupon of an edition (id = edition_id * 2**32 + serial)."""

    __tablename__ = "coupon_records"
    __table_args__ = (UniqueConstraint("edition_id", "serial"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    edition_id: Mapped[int] = mapped_column(BigInteger)
    serial: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str] = mapped_column(String(42), index=True)
    #: 1 active, 2 redeemed, 3 voided (as the contract numbers them)
    status: Mapped[int] = mapped_column(Integer)
    channel: Mapped[int] = mapped_column(Integer)
    price: Mapped[str] = mapped_column(String(78))
    order_ref: Mapped[str] = mapped_column(String(66))
    seller: Mapped[str] = mapped_column(String(42))
    sold_at: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class CouponHistory(Base):
    """Read model: every sale, transfer, redemption and void of a coupon, in chain order."""

    __tablename__ = "coupon_history"
    __table_args__ = (UniqueConstraint("block_hash", "log_index"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    coupon_id: Mapped[int] = mapped_column(BigInteger, index=True)
    #: sold | transferred | redeemed | voided
    action: Mapped[str] = mapped_column(String(12))
    sender: Mapped[str | None] = mapped_column(String(42))
    receiver: Mapped[str | None] = mapped_column(String(42))
    actor: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class PromotionEvaluation(Base):
    """The published evaluation behind a round: inputs and formula parameters.

    Kept by the platform (the chain keeps their hash and the total), so anyone
    can recompute both; written before the round is opened.
    """

    __tablename__ = "promotion_evaluations"

    inputs_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    inputs: Mapped[dict] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PromotionRound(Base):
    """Read model: a promotion round and its counters, from the promotions contract."""

    __tablename__ = "promotion_rounds"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    platform: Mapped[str] = mapped_column(String(42))
    first_id: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    inputs_hash: Mapped[str] = mapped_column(String(66))
    incentive_bps: Mapped[int] = mapped_column(Integer)
    #: [platform, issuer, redeemer, holder, earlier] in basis points
    shares: Mapped[list] = mapped_column(JSON)
    rollback_window: Mapped[int] = mapped_column(BigInteger)
    max_consent_lifetime: Mapped[int] = mapped_column(Integer)
    allocated: Mapped[int] = mapped_column(BigInteger, default=0)
    granted: Mapped[int] = mapped_column(BigInteger, default=0)
    written_off: Mapped[int] = mapped_column(BigInteger, default=0)
    distributed: Mapped[int] = mapped_column(BigInteger, default=0)
    opened_at: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class PromotionAllocation(Base):
    """Read model: a merchant's allocation in a round and what it may still grant."""

    __tablename__ = "promotion_allocations"

    round_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    merchant: Mapped[str] = mapped_column(String(42), primary_key=True)
    allocated: Mapped[int] = mapped_column(BigInteger, default=0)
    granted: Mapped[int] = mapped_column(BigInteger, default=0)


class PromotionCoupon(Base):
    """Read model: a granted promotion coupon (ids not granted yet have no row)."""

    __tablename__ = "promotion_coupons"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    round_id: Mapped[int] = mapped_column(BigInteger, index=True)
    issuer: Mapped[str] = mapped_column(String(42), index=True)
    holder: Mapped[str] = mapped_column(String(42), index=True)
    #: 1 active, 2 written off, 3 distributed (as the contract numbers them)
    status: Mapped[int] = mapped_column(Integer)
    transfers: Mapped[int] = mapped_column(Integer, default=0)
    redeemer: Mapped[str | None] = mapped_column(String(42), index=True)
    order_amount: Mapped[str | None] = mapped_column(String(40))
    pool: Mapped[str | None] = mapped_column(String(40))
    written_off_at: Mapped[int | None] = mapped_column(BigInteger, index=True)
    granted_at: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class PromotionPath(Base):
    """Read model: every step of a promotion coupon, in chain order."""

    __tablename__ = "promotion_path"
    __table_args__ = (UniqueConstraint("block_hash", "log_index", "coupon_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    coupon_id: Mapped[int] = mapped_column(BigInteger, index=True)
    #: granted | transferred | written_off | reversed | distributed
    action: Mapped[str] = mapped_column(String(12))
    sender: Mapped[str | None] = mapped_column(String(42))
    receiver: Mapped[str | None] = mapped_column(String(42))
    actor: Mapped[str] = mapped_column(String(42))
    amount: Mapped[str | None] = mapped_column(String(40))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger, index=True)


class PayoutEntry(Base):
    """Read model: a credit to (or a withdrawal by) an account's pull payouts."""

    __tablename__ = "payout_entries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    account: Mapped[str] = mapped_column(String(42), index=True)
    #: the contract that holds the payout: promotions (later: referrals)
    source: Mapped[str] = mapped_column(String(20))
    #: platform | issuer | redeemer | holder | earlier | withdrawal (and others per source)
    part: Mapped[str] = mapped_column(String(12))
    #: what earned it, e.g. the promotion coupon id; empty for a withdrawal
    reference: Mapped[str | None] = mapped_column(String(80))
    #: credits positive, withdrawals negative, in the token's smallest unit
    amount: Mapped[str] = mapped_column(String(40))
    block_number: Mapped[int] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class PayoutBalance(Base):
    """Read model: what an account may withdraw from one source."""

    __tablename__ = "payout_balances"

    account: Mapped[str] = mapped_column(String(42), primary_key=True)
    source: Mapped[str] = mapped_column(String(20), primary_key=True)
    credited: Mapped[str] = mapped_column(String(40), default="0")
    withdrawn: Mapped[str] = mapped_column(String(40), default="0")
