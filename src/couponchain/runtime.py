"""The running platform: node, database, gateway, indexer and services, wired once.

`Runtime.start()` brings everything up in dependency order: schema migrations,
the embedded node (unless an external RPC URL is set), the gateway (which first
reconciles the node with the journal), the platform account, the contracts, the
indexer. The API and the CLI both work through one `Runtime`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from couponchain.chain.deploy import ensure_deployed
from couponchain.chain.gateway import Gateway
from couponchain.chain.keys import KeyVault
from couponchain.chain.node import NodeSupervisor
from couponchain.chain.reconciler import earliest_timestamp
from couponchain.chain.rpc import RpcClient
from couponchain.config import Settings
from couponchain.indexer.capabilities import all_projections
from couponchain.indexer.indexer import Indexer
from couponchain.services.accounts import AccountService
from couponchain.services.credentials import CredentialStore
from couponchain.services.editions import EditionService
from couponchain.services.incentive_caps import IncentiveCaps
from couponchain.services.marketing import MarketingService
from couponchain.services.marketing_access_logs import log_key
from couponchain.services.notifications import Notifications
from couponchain.services.notifications_delivery import NotificationDeliverer
from couponchain.services.notifications_watch import NotificationWatch
from couponchain.services.participant_standing import StandingService
from couponchain.services.participants import Caller, ParticipantService
from couponchain.services.payouts import PayoutService
from couponchain.services.platform_secrets import (
    VISITORS,
    PlatformSecrets,
    prize_code_name,
    random_prize_key,
)
from couponchain.services.prizes import PrizeService, code_key
from couponchain.services.promotions import PromotionService
from couponchain.services.proofs import StorageProofs
from couponchain.services.referrals import ReferralService
from couponchain.services.topups import TopUpService
from couponchain.store.db import Database, migrate

log = logging.getLogger(__name__)


@dataclass
class PlatformIdentity:
    """The platform participant, and an API key of it when one may be shown (made on
    the first start, the dev-mode admin key, the demo's)."""

    caller: Caller
    api_key: str | None


def _tune_gc() -> None:
    """Collect garbage less often than CPython's default (every 700 allocations).

    Each operation allocates a few dozen short-lived objects (futures, dicts,
    decoded values); at thousands of operations a second the default makes the
    collector run constantly. Measured with bench/gateway.py: +27% operations/s.
    Memory stays bounded: young objects are still collected, in larger rounds.
    """
    gc.set_threshold(50_000, 20, 100)


class Runtime:
    """Everything a CouponChain process runs, started and stopped together."""

    def __init__(
        self, settings: Settings, replay_progress: Callable[[int, int], None] | None = None
    ) -> None:
        self.settings = settings
        #: Set by `couponchain migrate`: changed contracts are deployed anew with
        #: their state carried over instead of stopping the start.
        self.migrate_contracts = False
        #: Told (done, total) while the journal is replayed into the node.
        self.replay_progress = replay_progress
        self.vault = KeyVault(settings.master_secret)
        self.db = Database(settings.database)
        self.credentials = CredentialStore(self.db)
        self.secrets = PlatformSecrets(self.db, self.vault)
        self.supervisor: NodeSupervisor | None = None
        self.rpc: RpcClient
        self.gateway: Gateway
        self.indexer: Indexer
        self.participants: ParticipantService
        self.standing: StandingService
        #: Accounts for people: passkeys, recovery codes, invitations (issue 24).
        self.accounts: AccountService
        #: Top-ups at merchants' tills within platform-set limits (issue 24).
        self.topups: TopUpService
        self.editions = EditionService(self)
        self.promotions = PromotionService(self)
        self.prizes = PrizeService(self)
        self.referrals = ReferralService(self)
        self.payouts = PayoutService(self)
        self.marketing = MarketingService(self)
        self.proofs = StorageProofs(self)
        #: Notifications for merchants (issue 25): the console's side, the webhook
        #: pushes, and the watch for expiring coupons and low budgets.
        self.notifications = Notifications(self.db)
        self.notification_pushes = NotificationDeliverer(self.db, self.vault, settings,
                                                         self.marketing.webhooks)
        self.notification_watch = NotificationWatch(self.db, IncentiveCaps(self).left)
        self.platform: PlatformIdentity
        #: In demo mode: who to act as, and where, for each capability (home page).
        self.demo_tour: list[dict[str, str]] = []
        self.addresses: dict[str, str] = {}
        self.chain_id = settings.chain_id

    async def start(self) -> None:
        _tune_gc()
        settings = self.settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(migrate, self.db.url)
        await self.secrets.verify_master()
        master = settings.master_secret
        self.marketing.key = await self.secrets.value(VISITORS, lambda: log_key(master))
        url = settings.rpc_url
        if url is None:
            self.supervisor = NodeSupervisor(
                settings.data_dir / "node", kind=settings.node_kind, chain_id=settings.chain_id
            )
            # A fresh node must begin before the journal's first block to replay it.
            self.supervisor.genesis_timestamp = lambda: earliest_timestamp(self.db)
            url = await self.supervisor.start()
        self.rpc = RpcClient(url)
        self.chain_id = int(await self.rpc.call("eth_chainId"), 16)
        self.gateway = Gateway(
            self.db, self.rpc, self.chain_id, batch_wait_ms=settings.batch_wait_ms,
            batch_max=settings.batch_max, gas_limit=settings.tx_gas_limit,
            dev_node=self.supervisor is not None,
        )
        self.gateway.reconciler.progress = self.replay_progress
        if self.supervisor is not None:
            self.supervisor.on_restart(self.gateway.recover)
            self.gateway.reconciler.restart_node = self.supervisor.restart
        self.indexer = Indexer(self.db, self.rpc, lambda: self.gateway.by_address,
                               all_projections())
        await self.gateway.start()
        self.participants = ParticipantService(self.db, self.vault, self.gateway, self.indexer,
                                               self.credentials)
        self.standing = StandingService(self.db, self.vault, self.gateway, self.indexer,
                                        self.participants, lambda: self.addresses)
        caller, api_key = await self.participants.ensure_platform(
            settings.admin_key if settings.dev_mode else None
        )
        self.platform = PlatformIdentity(caller, api_key)
        self.topups = TopUpService(self.db, self.gateway, self.participants, self.indexer,
                                   self.view)
        self.accounts = AccountService(self.db, self.participants, self.credentials,
                                       lambda: self.platform.caller)
        self.addresses = await ensure_deployed(
            self.gateway, await self.participants.signer(caller.id), self.migrate_contracts
        )
        prizes = self.addresses["prizes"]
        self.prizes.use_code_key(await self.secrets.value(
            prize_code_name(self.chain_id, prizes),
            legacy=lambda: bytes(code_key(master, self.chain_id, prizes).key),
            fresh=random_prize_key))
        await self.indexer.start()
        self.prizes.start()
        if settings.distribute_interval > 0:
            self.promotions.start(settings.distribute_interval)
        if settings.report_interval > 0:
            self.marketing.start(settings.report_interval, settings.webhook_interval)
        if settings.notification_interval > 0:
            self.notification_pushes.start(settings.webhook_interval)
            self.notification_watch.start(settings.notification_interval)

    async def view(self, contract: str, function: str, *args: object) -> Any:
        """The result of a view function of a deployed contract, at the latest block."""
        address, code = self.gateway.contracts[contract]
        data = code.encode_call(function, *args)
        reply = await self.rpc.call("eth_call", {"to": address, "data": "0x" + data.hex()},
                                    "latest")
        return code.decode_result(function, bytes.fromhex(reply[2:]))

    async def stop(self) -> None:
        self.notifications.close()
        await self.promotions.stop()
        await self.prizes.stop()
        await self.marketing.stop()
        await self.notification_pushes.stop()
        await self.notification_watch.stop()
        await self.credentials.stop()
        for part in ("indexer", "gateway"):
            if hasattr(self, part):
                await getattr(self, part).stop()
        if hasattr(self, "rpc"):
            await self.rpc.close()
        if self.supervisor is not None:
            await self.supervisor.stop()
        await self.db.close()
