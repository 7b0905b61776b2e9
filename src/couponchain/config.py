"""Settings: one pydantic-settings object fed by COUPONCHAIN_* variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from couponchain.errors import ConfigurationError

#: The embedded node kind: geth, whose state is on disk, so memory stays flat and a
#: restart replays nothing. Its blocks are a second apart at least: the gateway
#: seals one block per window and paces windows so the chain's clock stays within
#: seconds of the wall clock (see `couponchain.chain.gateway`).
DEFAULT_NODE_KIND = "geth"

DEV_MASTER_SECRET = "dev-only-master-secret-change-me"


class Settings(BaseSettings):
    """Everything the platform reads from its environment.

    Outside dev mode a real `master_secret` is required: it encrypts every
    participant key at rest. Dev mode is off unless asked for
    (`COUPONCHAIN_DEV_MODE=1`, or `couponchain up --demo`); only then is the
    fixed `admin_key` honoured.
    """

    model_config = SettingsConfigDict(env_prefix="COUPONCHAIN_", extra="ignore")

    dev_mode: bool = False
    data_dir: Path = Path(".data")
    database_url: str | None = None
    rpc_url: str | None = Field(default=None, description="external EVM JSON-RPC endpoint")
    node_kind: str = Field(default=DEFAULT_NODE_KIND,
                           description="embedded node: geth, hardhat or anvil")
    #: The chain node the pages offer by default for checking proofs in the browser (a
    #: JSON-RPC URL that answers CORS requests, e.g. a validator's public read-only
    #: endpoint); unset, the pages use the platform's read-only relay (`/v1/node-relay`)
    #: and say that it is the platform's node, not an independent one.
    public_rpc_url: str | None = None
    chain_id: int = 31337
    master_secret: str = DEV_MASTER_SECRET
    admin_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    #: Group commit: the longest an operation waits for companions, and the
    #: most operations in one batch transaction.
    batch_wait_ms: float = 5.0
    batch_max: int = 512
    #: Gas limit used for every transaction (the embedded node's block limit is larger).
    tx_gas_limit: int = 16_000_000
    #: Writes per second per API key (token bucket; 0 turns the limit off), and the burst.
    write_rate_per_second: float = 1000.0
    write_burst: int = 2000
    #: Seconds between runs of the promotion pool distributor (0 turns it off).
    distribute_interval: float = 2.0
    #: Seconds between evaluations of the merchants' reporting rules (0 turns the
    #: report scheduler off), and between webhook delivery rounds.
    report_interval: float = 15.0
    webhook_interval: float = 1.0
    #: Webhook retries: first backoff, longest backoff, attempts before giving up,
    #: and how long one attempt may take (seconds).
    webhook_retry_base: float = 2.0
    webhook_retry_max_delay: float = 300.0
    webhook_max_attempts: int = 8
    webhook_timeout: float = 5.0
    #: Seconds between looks for coupons about to expire and budgets nearly spent
    #: (0 turns the notification watch and its webhook pushes off; issue 25).
    notification_interval: float = 60.0
    #: Webhook address policy (issue 20 §3): hosts and CIDRs, comma-separated, that a
    #: webhook may reach although they are loopback, private, link-local... (the
    #: operator's own receivers; the tests' local ones). Every other address is refused.
    webhook_allow_hosts: str = ""
    #: Offline prize claims (issue 20 §4): an offline scan counts only when synced
    #: within this many seconds of its code's issue.
    prize_offline_window_seconds: int = Field(default=900, ge=0, le=7 * 86_400)
    #: Accounts for people (issue 24): the site's public origin, e.g.
    #: https://coupons.example.com, which passkeys are made for and which cookie-signed
    #: writes must come from. Unset, each request's own origin is used (fine on one
    #: host name; behind a proxy or with several names, set it).
    public_origin: str | None = None
    #: Behind a TLS-terminating proxy: trust its X-Forwarded-Proto (https), so the
    #: session cookie is Secure and the origin is https.
    trust_forwarded_proto: bool = False

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if not self.dev_mode and self.master_secret == DEV_MASTER_SECRET:
            raise ConfigurationError(
                "COUPONCHAIN_MASTER_SECRET must be set (the default is for dev mode only: "
                "`couponchain up --demo` or COUPONCHAIN_DEV_MODE=1)", field="master_secret"
            )
        if not self.dev_mode and self.admin_key:
            raise ConfigurationError(
                "COUPONCHAIN_ADMIN_KEY is honoured in dev mode only; outside it, make keys "
                "with `couponchain keys create-admin`", field="admin_key"
            )
        if len(self.master_secret) < 16:
            raise ConfigurationError(
                "COUPONCHAIN_MASTER_SECRET must be at least 16 characters", field="master_secret"
            )
        if self.public_rpc_url and not self.public_rpc_url.startswith(("https://", "http://")):
            raise ConfigurationError(
                "COUPONCHAIN_PUBLIC_RPC_URL must be an http(s) URL of a JSON-RPC node",
                field="public_rpc_url")
        if self.public_origin and not self.public_origin.startswith(("https://", "http://")):
            raise ConfigurationError(
                "COUPONCHAIN_PUBLIC_ORIGIN must be an origin such as https://coupons.example.com",
                field="public_origin")
        return self

    @cached_property
    def database(self) -> str:
        """The SQLAlchemy async URL; SQLite in the data dir by default."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'couponchain.db').resolve()}"
