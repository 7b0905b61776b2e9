"""SQLAlchemy models.

Three families live here:
- credentials (`Participant`, `Credential`, `PlatformSecret`): off-chain secrets of
  each participant (chain key encrypted, API keys and sessions hashed) and of the platform;
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
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Participant(Base):
    """A participant and its chain key (encrypted); its API keys are `Credential` rows."""

    __tablename__ = "participants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(42), unique=True)
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("participants.id"), index=True)
    encrypted_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str | None] = mapped_column(String(32))
    #: The creator's Idempotency-Key, so a retried creation reuses this row.
    creation_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Whose key signs for it: "custodial" (the server's, encrypted above) or "own"
    #: (an address the participant registered; `encrypted_key` is then empty).
    custody: Mapped[str] = mapped_column(String(10), default="custodial",
                                         server_default="custodial")


class Credential(Base):
    """An API key or a page session of a participant, stored as a hash only.

    `kind` is "api_key" or "session"; a session names the API key it was opened
    with (`parent_id`) and is revoked with it. A credential is valid while
    `revoked_at` is empty and `expires_at` (if any) is ahead.
    """

    __tablename__ = "credentials"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100))
    #: SHA-256 (hex) of the whole key or session token.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("credentials.id"), index=True)
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Written at most once a minute per key (not on every request).
    last_used_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class PlatformSecret(Base):
    """A platform secret kept stable across master-secret rotations, stored encrypted
    under the master secret (the visitor pseudonym key, the prize-code key, a check
    value that tells a wrong master secret at start)."""

    __tablename__ = "platform_secrets"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    #: Fernet token under the master secret; empty for the `legacy` marker.
    value: Mapped[bytes] = mapped_column(LargeBinary)
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
    #: SHA-256 of the runtime code deployed (`CompiledContract.code_hash`): a start
    #: compares it, so an edited comment passes and changed code is refused.
    #: None in rows written before it was kept (checked against the chain once).
    code_hash: Mapped[str | None] = mapped_column(String(64))
    #: The deployment's version: 1 at first, one more with each migration.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class RetiredDeployment(Base):
    """A contract a migration replaced: where it was, and what replaced it."""

    __tablename__ = "retired_deployments"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(42))
    code_hash: Mapped[str | None] = mapped_column(String(64))
    replaced_by: Mapped[str] = mapped_column(String(42))
    #: The block of the new contract's `Migrated` event (the retirement anyone sees).
    retired_at_block: Mapped[int] = mapped_column(BigInteger)


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
    #: 0 active, 1 suspended, 2 unbound: the account's own standing (a terminal
    #: of a suspended merchant keeps 0; see `domain.roles.Standing`).
    status: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The reason, caller and transaction of the last change of standing.
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_by: Mapped[str | None] = mapped_column(String(42))
    status_block: Mapped[int | None] = mapped_column(BigInteger)
    status_tx: Mapped[str | None] = mapped_column(String(66))


class CapabilityPause(Base):
    """Read model: a capability contract's pause switch and the last reason given."""

    __tablename__ = "capability_pauses"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    paused: Mapped[bool]
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class PlatformRotation(Base):
    """The custodial key of a proposed next platform account, until it accepts."""

    __tablename__ = "platform_rotations"

    candidate: Mapped[str] = mapped_column(String(42), primary_key=True)
    encrypted_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
    #: pieces held by open capacity reservations (sold + reserved <= cap)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: its merchant paused its sales (issue 25)
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    registered_at: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class EditionChange(Base):
    """Read model: an edition's merchant paused, resumed or extended it (issue 25), in
    chain order; the reason's text is in `EditionChangeReason`, by its hash."""

    __tablename__ = "edition_changes"
    __table_args__ = (UniqueConstraint("block_hash", "log_index"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    edition_id: Mapped[int] = mapped_column(BigInteger, index=True)
    #: paused | resumed | extended
    action: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(42))
    #: extended: the end before and after
    old_valid_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    valid_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason_hash: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class EditionChangeReason(Base):
    """The text of a reason given for an edition change, kept by the platform (the
    contract's event has its keccak256), written before the chain call."""

    __tablename__ = "edition_change_reasons"

    reason_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    text: Mapped[str] = mapped_column(Text)


class EditionReservation(Base):
    """Read model: a capacity reservation of an edition (a bulk sale in progress)."""

    __tablename__ = "edition_reservations"

    #: keccak256(abi_encode(holder, key)), 0x hex
    id: Mapped[str] = mapped_column(String(66), primary_key=True)
    edition_id: Mapped[int] = mapped_column(BigInteger, index=True)
    holder: Mapped[str] = mapped_column(String(42))
    count: Mapped[int] = mapped_column(BigInteger)
    left: Mapped[int] = mapped_column(BigInteger)
    expires: Mapped[int] = mapped_column(BigInteger)
    #: open | released (an open one with nothing left is used up)
    status: Mapped[str] = mapped_column(String(10))
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class CouponRecord(Base):
    """Read model: one sold coupon of an edition (id = edition_id * 2**32 + serial)."""

    __tablename__ = "coupon_records"
    #: a sales list searched by customer or order reference looks them up within
    #: its edition
    __table_args__ = (UniqueConstraint("edition_id", "serial"),
                      Index("ix_coupon_records_edition_owner", "edition_id", "owner"),
                      Index("ix_coupon_records_edition_order_ref", "edition_id", "order_ref"))

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
    receiver: Mapped[str | None] = mapped_column(String(42), index=True)
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
    #: The evaluation period (blocks, inclusive) and the measured inputs' hash;
    #: None when the round records no measured inputs.
    period_from: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    period_to: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    measured_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)


class IncentiveCap(Base):
    """A merchant's spending cap for incentives, as the merchant last set it.

    The chain keeps what is left of it (the merchant's token approval of the
    promotions contract, which every incentive uses up); this row keeps the
    figure the merchant chose, to show beside what is left.
    """

    __tablename__ = "incentive_caps"

    merchant: Mapped[str] = mapped_column(String(42), primary_key=True)
    cap: Mapped[str] = mapped_column(String(80))
    tx_hash: Mapped[str] = mapped_column(String(66))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)


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
    receiver: Mapped[str | None] = mapped_column(String(42), index=True)
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


class PrizeCampaign(Base):
    """Read model: a prize campaign and its totals, from the prizes contract."""

    __tablename__ = "prize_campaigns"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    merchant: Mapped[str] = mapped_column(String(42), index=True)
    title: Mapped[str] = mapped_column(String(64))
    all_terminals: Mapped[bool] = mapped_column(default=False)
    #: addresses of the listed eligible terminals (empty with all_terminals)
    terminals: Mapped[list] = mapped_column(JSON)
    starts: Mapped[int] = mapped_column(BigInteger)
    ends: Mapped[int] = mapped_column(BigInteger)
    per_consumer_limit: Mapped[int] = mapped_column(BigInteger)
    awarded: Mapped[int] = mapped_column(BigInteger, default=0)
    claimed: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class PrizeStock(Base):
    """Read model: one prize kind of a campaign and its counters."""

    __tablename__ = "prize_stock"

    campaign_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    prize_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(BigInteger)
    #: live awards (a revoked award gives its unit back), as the contract counts them
    awarded: Mapped[int] = mapped_column(BigInteger, default=0)
    claimed: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked: Mapped[int] = mapped_column(BigInteger, default=0)


class PrizeAward(Base):
    """Read model: an award of a prize to a consumer, and its claim if any."""

    __tablename__ = "prize_awards"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    campaign_id: Mapped[int] = mapped_column(BigInteger, index=True)
    consumer: Mapped[str] = mapped_column(String(42), index=True)
    prize_index: Mapped[int] = mapped_column(Integer)
    #: 1 awarded, 2 claimed, 3 revoked (as the contract numbers them)
    status: Mapped[int] = mapped_column(Integer)
    awarded_at: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class PrizeRevocation(Base):
    """A merchant's revocation of an award, with the reason it gave (not a read model).

    The prizes contract's `AwardRevoked` event carries no reason, so the reason
    is kept here, off chain, written before the chain call; the unique award id
    makes one revocation per award, and a claim row and a revocation row of one
    award exclude each other (both lock the award's row first). `tx_hash` is
    set once the contract recorded it.
    """

    __tablename__ = "prize_revocations"

    award_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    campaign_id: Mapped[int] = mapped_column(BigInteger, index=True)
    reason: Mapped[str] = mapped_column(Text)
    revoked_by: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)


class PrizeCampaignChange(Base):
    """A merchant's change to a running campaign, with the reason it gave (not a
    read model): the contract's `WindowChanged`, `StockChanged` and
    `TerminalsChanged` events carry only the reason's hash (`reason_hash`,
    keccak256 of the UTF-8 text), so the text is kept here, written before
    the chain call; `tx_hash` is set once the contract recorded it."""

    __tablename__ = "prize_campaign_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger, index=True)
    #: window | stock | terminals
    kind: Mapped[str] = mapped_column(String(16))
    #: what was asked: {"ends"} | {"prize_index", "quantity"} |
    #: {"added", "removed", "all_terminals"}
    detail: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    reason_hash: Mapped[str] = mapped_column(String(66))
    changed_by: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)


class PrizeClaimRecord(Base):
    """Read model: a claim as the chain recorded it (the `Claimed` event)."""

    __tablename__ = "prize_claim_records"
    #: a consumer's claims in a campaign are counted on every scan and claim
    __table_args__ = (Index("ix_prize_claim_records_campaign_consumer", "campaign_id",
                            "consumer"),)

    award_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    campaign_id: Mapped[int] = mapped_column(BigInteger)
    consumer: Mapped[str] = mapped_column(String(42))
    prize_index: Mapped[int] = mapped_column(Integer)
    terminal: Mapped[str] = mapped_column(String(42))
    claimed_at: Mapped[int] = mapped_column(BigInteger, index=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class PrizeScan(Base):
    """A terminal's scan of a prize code and the result of each claim condition.

    Written by the prizes service (not a read model): the scan is the evidence
    a claim is confirmed against.
    """

    __tablename__ = "prize_scans"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(String(32), index=True)
    terminal: Mapped[str] = mapped_column(String(42))
    award_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)
    consumer: Mapped[str | None] = mapped_column(String(42))
    #: the code's one-time nonce, as decimal text (64 bits)
    nonce: Mapped[str | None] = mapped_column(String(20))
    code_expiry: Mapped[int | None] = mapped_column(BigInteger)
    #: the winner's EIP-712 claim signature carried by the code, and its expiry
    claim_expiry: Mapped[int | None] = mapped_column(BigInteger)
    claim_signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    claimable: Mapped[bool] = mapped_column(default=False)
    #: [{"name", "ok", "reason"}] in the order the terminal shows them
    conditions: Mapped[list] = mapped_column(JSON)
    #: online | offline (queued by a terminal and reconciled later)
    source: Mapped[str] = mapped_column(String(8), default="online")
    scanned_at: Mapped[int] = mapped_column(BigInteger)
    #: when the terminal scanned it, for offline scans (its own clock)
    local_scanned_at: Mapped[int | None] = mapped_column(BigInteger)


class PrizeClaim(Base):
    """The prize-claim database: one row per claimed award, written before the chain.

    `award_id` is unique, so two terminals claiming one award at once make one
    row and the other gets a conflict; `(award_id, nonce)` is unique too, so a
    code is accepted once. The claim is acknowledged once this row is
    committed; the prizes contract records it next and stays the final
    authority: a claim it refuses is kept as `refused` with its reason.
    """

    __tablename__ = "prize_claims"
    #: a consumer's claims in a campaign are counted on every scan and claim
    __table_args__ = (UniqueConstraint("award_id", "nonce"),
                      Index("ix_prize_claims_campaign_consumer", "campaign_id", "consumer"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    award_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    nonce: Mapped[str] = mapped_column(String(20))
    scan_id: Mapped[str] = mapped_column(ForeignKey("prize_scans.id"), unique=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger)
    prize_index: Mapped[int] = mapped_column(Integer)
    prize_name: Mapped[str] = mapped_column(String(32))
    consumer: Mapped[str] = mapped_column(String(42))
    terminal_id: Mapped[str] = mapped_column(String(32))
    terminal: Mapped[str] = mapped_column(String(42))
    #: the scan's conditions at the time of the claim
    scan_result: Mapped[list] = mapped_column(JSON)
    #: the winner's claim signature and its expiry, sent to the contract with the claim
    claim_expiry: Mapped[int | None] = mapped_column(BigInteger)
    claim_signature: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: pending (written, not yet on chain) | recorded | refused (by the contract)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    source: Mapped[str] = mapped_column(String(8), default="online")
    claimed_at: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    #: the contract's reason, for a refused claim
    refusal: Mapped[str | None] = mapped_column(String(200))


class ProductDescription(Base):
    """The full description of a product, kept by the platform; the chain keeps its hash."""

    __tablename__ = "product_descriptions"

    content_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferralProduct(Base):
    """Read model: a product of peer-to-peer batch sales, from the referrals contract."""

    __tablename__ = "referral_products"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    originator: Mapped[str] = mapped_column(String(42), index=True)
    name: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(66))
    batch_count: Mapped[int] = mapped_column(Integer)
    units_sold: Mapped[int] = mapped_column(BigInteger, default=0)
    #: the contract's per-unit accumulator after the latest sale (token units)
    reward_per_unit: Mapped[str] = mapped_column(String(78), default="0")
    registered_at: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class ReferralBatch(Base):
    """Read model: one batch of a product with its sales and where the money went."""

    __tablename__ = "referral_batches"

    product_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    batch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    price: Mapped[str] = mapped_column(String(40))
    circulation: Mapped[int] = mapped_column(BigInteger)
    rebate_bps: Mapped[int] = mapped_column(Integer)
    #: the promoter's direct share of each rebate, set by the originator with the batch
    promoter_share_bps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: units of earlier batches that earn from this batch's sales
    eligible_units: Mapped[int] = mapped_column(BigInteger)
    #: the accumulator when the batch opened (units of the batch before earn from here)
    reward_per_unit_at_open: Mapped[str] = mapped_column(String(78))
    sold: Mapped[int] = mapped_column(BigInteger, default=0)
    closed: Mapped[bool] = mapped_column(default=False)
    revenue: Mapped[str] = mapped_column(String(60), default="0")
    rebates: Mapped[str] = mapped_column(String(60), default="0")
    promoter_paid: Mapped[str] = mapped_column(String(60), default="0")
    holders_paid: Mapped[str] = mapped_column(String(60), default="0")
    originator_paid: Mapped[str] = mapped_column(String(60), default="0")
    #: holders' buffer handed to the originator when the batch ended
    dust: Mapped[str] = mapped_column(String(60), default="0")
    opened_at: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))


class ReferralHolding(Base):
    """Read model: units of a product an account bought in one batch."""

    __tablename__ = "referral_holdings"

    product_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account: Mapped[str] = mapped_column(String(42), primary_key=True, index=True)
    batch: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    units: Mapped[int] = mapped_column(BigInteger, default=0)


class ReferralPurchase(Base):
    """Read model: a purchase and its promotion record (one `Purchased` event)."""

    __tablename__ = "referral_purchases"
    __table_args__ = (UniqueConstraint("block_hash", "log_index"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    product_id: Mapped[int] = mapped_column(BigInteger, index=True)
    batch: Mapped[int] = mapped_column(Integer)
    buyer: Mapped[str] = mapped_column(String(42), index=True)
    #: empty in batch 1 (sold without a link)
    promoter: Mapped[str | None] = mapped_column(String(42), index=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[str] = mapped_column(String(60))
    rebate: Mapped[str] = mapped_column(String(60))
    promoter_amount: Mapped[str] = mapped_column(String(60))
    holders_amount: Mapped[str] = mapped_column(String(60))
    originator_amount: Mapped[str] = mapped_column(String(60))
    link_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class AccessLogBatch(Base):
    """A batch of access logs a terminal service node submitted; its root is anchored.

    Rows are written before the anchor and deleted again if the chain refuses
    it; only `anchored` batches count in indicators and reports.
    """

    __tablename__ = "access_log_batches"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    submitter_id: Mapped[str] = mapped_column(String(32))
    #: the merchant's address; None for a platform batch mixing merchants
    merchant: Mapped[str | None] = mapped_column(String(42), index=True)
    merkle_root: Mapped[str] = mapped_column(String(66))
    record_count: Mapped[int] = mapped_column(Integer)
    first_time: Mapped[int] = mapped_column(BigInteger)
    last_time: Mapped[int] = mapped_column(BigInteger)
    #: pending (stored, not yet anchored) | anchored
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccessLog(Base):
    """One access-log record; the visitor's IP is only kept as its keyed hash.

    No longer written: records live in the analytics store (`store/analytics.py`,
    one Parquet file per batch). The table stays until a migration drops it.
    """

    __tablename__ = "access_logs"
    __table_args__ = (Index("ix_access_logs_merchant_time", "merchant", "time"),)

    batch_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: HMAC-SHA256 of the normalised IP (hex), see domain.access_logs.pseudonymise_ip
    visitor: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(64))
    time: Mapped[int] = mapped_column(BigInteger)
    #: the merchant number (see services.marketing.merchant_number)
    merchant: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[int] = mapped_column(Integer)
    operation: Mapped[int] = mapped_column(Integer)


class MarketingRuleState(Base):
    """What the report scheduler persists per rule between evaluations."""

    __tablename__ = "marketing_rule_states"

    merchant: Mapped[str] = mapped_column(String(42), primary_key=True)
    rules_version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rule_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_period: Mapped[int | None] = mapped_column(BigInteger)
    armed: Mapped[bool] = mapped_column(default=True)


class MarketingReport(Base):
    """A computed report: its full canonical JSON; the chain keeps its hash."""

    __tablename__ = "marketing_reports"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    report_hash: Mapped[str] = mapped_column(String(66), unique=True)
    merchant: Mapped[str] = mapped_column(String(42), index=True)
    rules_version: Mapped[int] = mapped_column(Integer)
    rule_index: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[int] = mapped_column(BigInteger)
    period_end: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)
    #: pending (stored, not yet on chain) | published | failed (the chain refused it)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    error: Mapped[str | None] = mapped_column(String(500))
    chain_report_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)
    #: the contract's global id of the rule the report answers
    rule_id: Mapped[int | None] = mapped_column(BigInteger)
    #: a periodic report's period number (from 1); 0 otherwise
    period: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: JSON [[submitter address, batch id], ...]: the anchors a threshold report read
    sources: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")


class MarketingWebhook(Base):
    """Where a merchant's reports are pushed, and the secret that signs them."""

    __tablename__ = "marketing_webhooks"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    #: encrypted with the key vault
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MarketingDelivery(Base):
    """The push of one report to its merchant's webhook, with every attempt."""

    __tablename__ = "marketing_deliveries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("marketing_reports.id"), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(32), index=True)
    #: pending | delivered | failed (gave up after the last retry)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(default=0.0)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)
    #: [{"at", "url", "status_code", "error"}] per attempt
    log: Mapped[list] = mapped_column(JSON, default=list)


class MarketingAnchor(Base):
    """Read model: an anchored access-log batch (`LogsAnchored`).

    Keyed as on chain by (submitter, batch id): each terminal (and the
    platform) has its own id space, so another caller's anchor with the same
    id is another row, never a collision.
    """

    __tablename__ = "marketing_anchors"

    submitter: Mapped[str] = mapped_column(String(42), primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    merchant: Mapped[str | None] = mapped_column(String(42), index=True)
    merkle_root: Mapped[str] = mapped_column(String(66))
    record_count: Mapped[int] = mapped_column(BigInteger)
    first_time: Mapped[int] = mapped_column(BigInteger)
    last_time: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class MarketingRulesVersion(Base):
    """Read model: one version of a merchant's reporting rules (`ReportingRulesSet`)."""

    __tablename__ = "marketing_rules_versions"

    merchant: Mapped[str] = mapped_column(String(42), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rules_hash: Mapped[str] = mapped_column(String(66))
    rules: Mapped[str] = mapped_column(Text)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class MarketingReportRecord(Base):
    """Read model: a report published on chain (`ReportPublished`)."""

    __tablename__ = "marketing_report_records"

    report_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    merchant: Mapped[str] = mapped_column(String(42), index=True)
    report_hash: Mapped[str] = mapped_column(String(66), unique=True)
    rules_version: Mapped[int] = mapped_column(Integer)
    rule_index: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[int] = mapped_column(BigInteger)
    period_end: Mapped[int] = mapped_column(BigInteger)
    trigger: Mapped[int] = mapped_column(Integer)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)
    rule_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", index=True)
    #: the period number of a periodic report; 0 for threshold and manual ones
    period: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    #: JSON [[submitter address, batch id], ...] as in the event
    sources: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")


class MarketingRuleSchedule(Base):
    """Read model: one rule of a rules version with its on-chain schedule (`RuleScheduled`).

    Period n of a periodic rule is `[start + (n - 1) * period, start + n * period)`;
    with the rules versions' times and the published periods this is all the
    overdue check needs, as the contract's `period_due` / `period_published`.
    """

    __tablename__ = "marketing_rule_schedules"

    rule_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    merchant: Mapped[str] = mapped_column(String(42), index=True)
    rules_version: Mapped[int] = mapped_column(Integer)
    rule_index: Mapped[int] = mapped_column(Integer)
    start: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class MarketingInfoVersion(Base):
    """Read model: one version of a merchant's marketing info (`MarketingInfoUpdated`)."""

    __tablename__ = "marketing_info_versions"

    merchant: Mapped[str] = mapped_column(String(42), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content_hash: Mapped[str] = mapped_column(String(66))
    info: Mapped[str] = mapped_column(Text)
    valid_from: Mapped[int] = mapped_column(BigInteger)
    valid_until: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class MarketingIndicator(Base):
    """A merchant's own indicator definition (issue 27), kept off chain: the
    rules that use it commit to its hash on chain (`rule_indicators_hash`)."""

    __tablename__ = "marketing_indicators"

    merchant: Mapped[str] = mapped_column(String(42), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    expression: Mapped[str] = mapped_column(Text)
    #: keccak256 of `definitions_json({name: expression})`
    definition_hash: Mapped[str] = mapped_column(String(66))
    updated_at: Mapped[int] = mapped_column(BigInteger)


class MarketingRuleIndicators(Base):
    """The indicator definitions one rule of a rules version reports, as the
    merchant's library held them when the rules were set; their hash is the one
    the rule committed to on chain."""

    __tablename__ = "marketing_rule_indicators"

    merchant: Mapped[str] = mapped_column(String(42), primary_key=True)
    rules_version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rule_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: `definitions_json` of the rule's definitions (the bytes the hash covers)
    definitions: Mapped[str] = mapped_column(Text)
    indicators_hash: Mapped[str] = mapped_column(String(66))


class MarketingIndicatorSet(Base):
    """Indicator definitions a rule may commit to, keyed by their hash and
    saved before the chain call that commits to it (`pending`), so a hash on
    chain always has its definitions here, whatever happened after the call;
    `committed` once a rule on chain is known to name it."""

    __tablename__ = "marketing_indicator_sets"

    merchant: Mapped[str] = mapped_column(String(42), primary_key=True)
    indicators_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    #: `definitions_json` of the definitions (the bytes the hash covers)
    definitions: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[int] = mapped_column(BigInteger)


class AuditEntry(Base):
    """Off-chain audit log: one row per write request through the API (who, what,
    when, and the chain evidence it answered with). Not a read model: the chain
    does not say which credential asked, so it is kept, never rebuilt."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger, index=True)
    merchant_id: Mapped[str | None] = mapped_column(String(32), index=True)
    participant_id: Mapped[str] = mapped_column(String(32), index=True)
    role: Mapped[str] = mapped_column(String(12))
    credential_id: Mapped[str] = mapped_column(String(16))
    credential_kind: Mapped[str] = mapped_column(String(8))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(300))
    operation: Mapped[str] = mapped_column(String(80))
    status: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str | None] = mapped_column(String(66), index=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    op_key: Mapped[str | None] = mapped_column(String(300))


# -- accounts for people: passkeys, ceremonies, recovery codes, invitations (issue 24) ------


class Passkey(Base):
    """A WebAuthn credential (a passkey) that signs a participant in.

    `credential_id` is the authenticator's id of it (base64url); `public_key` its
    COSE key; `sign_count` the last counter seen (a counter that goes back marks a
    cloned authenticator). `rp_id` is the site it was made for: a sign-in for
    another site is refused even if the signature holds.
    """

    __tablename__ = "passkeys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    #: WebAuthn's user handle (base64url): one per participant, on all its passkeys.
    user_handle: Mapped[str] = mapped_column(String(64), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    rp_id: Mapped[str] = mapped_column(String(255))
    transports: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()


class WebauthnChallenge(Base):
    """A registration or sign-in ceremony in progress: its challenge, kept server
    side, usable once (`used_at`) and before `expires_at`.

    `purpose` is "sign-up", "invitation", "add" (a passkey for the signed-in
    participant `participant_id`) or "sign-in".
    """

    __tablename__ = "webauthn_challenges"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    challenge: Mapped[str] = mapped_column(String(128))
    rp_id: Mapped[str] = mapped_column(String(255))
    origin: Mapped[str] = mapped_column(String(300))
    participant_id: Mapped[str | None] = mapped_column(String(32))
    user_handle: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(100))
    invitation_id: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()


class RecoveryCode(Base):
    """A one-time recovery code of a participant, stored as its SHA-256 only."""

    __tablename__ = "recovery_codes"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column()


class Invitation(Base):
    """A merchant's one-time invitation link for a member of staff (a passkey that acts
    as the merchant) or a terminal (a new terminal participant of the merchant).

    Only the SHA-256 of the link's token is kept; the link works once, before
    `expires_at`, unless revoked. `participant_id` is who it signed in once used.
    """

    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    participant_id: Mapped[str | None] = mapped_column(String(32))


class TillLimit(Base):
    """Read model: a merchant's till limit as the platform last set it (issue 24).

    What is left of it is the chain's (`token.till_remaining`); this row is
    what the `TillLimitSet` event said, for lists and history.
    """

    __tablename__ = "till_limits"

    merchant: Mapped[str] = mapped_column(String(42), primary_key=True)
    #: the cumulative limit and what had been credited when it was set, smallest unit
    limit: Mapped[str] = mapped_column(String(80))
    credited: Mapped[str] = mapped_column(String(80))
    set_by: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class TillCredit(Base):
    """Read model: a consumer topped up at a merchant's till (`TillCredited`, issue 24)."""

    __tablename__ = "till_credits"
    __table_args__ = (UniqueConstraint("block_number", "log_index"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    merchant: Mapped[str] = mapped_column(String(42), index=True)
    consumer: Mapped[str] = mapped_column(String(42), index=True)
    #: the merchant itself or the terminal that credited
    operator: Mapped[str] = mapped_column(String(42))
    amount: Mapped[str] = mapped_column(String(80))
    #: what was left of the merchant's till limit afterwards
    remaining: Mapped[str] = mapped_column(String(80))
    #: the shop's reference (0x hex of the bytes32; zero for none)
    reference: Mapped[str] = mapped_column(String(66))
    block_number: Mapped[int] = mapped_column(BigInteger)
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class CustomerLookup(Base):
    """A consumer's phone number or e-mail, registered by the consumer so that a till
    finds it by the exact identifier (issue 24): only its keyed hash is kept
    (HMAC-SHA256 under a platform secret, services/customer_lookup.py)."""

    __tablename__ = "customer_lookups"

    participant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), primary_key=True)
    #: phone | email
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    #: hex HMAC-SHA256 of the normalised identifier
    digest: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- notifications (issue 25) --------------------------------------------------------------


class Notification(Base):
    """Something a merchant cares about (a prize awarded or claimed, coupons about to
    expire, a budget nearly spent, a report ready), shown in its console and pushed to
    its webhook. Written from what the indexer projects and by the notification watch;
    never rebuilt: `dedupe` keeps a replayed event from notifying twice."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_merchant_id_id", "merchant_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(String(32))
    #: prize_awarded | prize_claimed | coupons_expiring | budget_low | report_ready
    kind: Mapped[str] = mapped_column(String(24))
    #: what it is about, once per merchant ("award:12", "edition:3", ...)
    dedupe: Mapped[str] = mapped_column(String(160), unique=True)
    data: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[int] = mapped_column(BigInteger)
    read_at: Mapped[int | None] = mapped_column(BigInteger)
    #: the webhook push: None (no webhook) | pending | delivered | failed
    delivery: Mapped[str | None] = mapped_column(String(10), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(default=0.0)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger)
    #: [{"at", "url", "status_code", "error"}] per attempt
    log: Mapped[list] = mapped_column(JSON, default=list)


class NotificationSetting(Base):
    """A notification kind a merchant switched (no row: on)."""

    __tablename__ = "notification_settings"

    merchant_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
