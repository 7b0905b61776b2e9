"""Projections: the handlers that turn chain events into read-model rows.

Each capability registers its handlers and the tables it owns on the shared
`PROJECTIONS`; the indexer applies them in chain order, and after a rewind it
empties the owned tables and replays every stored event through them again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class IndexedEvent:
    """One event with its chain position; `args` are JSON-safe (bytes as 0x hex)."""

    contract: str
    name: str
    args: dict[str, Any]
    block_number: int
    block_hash: str
    log_index: int
    tx_hash: str
    timestamp: int


Handler = Callable[[Session, IndexedEvent], None]
RunHandler = Callable[[Session, list[IndexedEvent]], None]


class Projections:
    """Handlers by (contract, event) and the tables they own."""

    def __init__(self) -> None:
        self.handlers: dict[tuple[str, str], list[Handler]] = {}
        self.run_handlers: dict[tuple[str, str], list[RunHandler]] = {}
        self.tables: list[Table] = []

    def on(self, contract: str, event: str) -> Callable[[Handler], Handler]:
        """Register a handler for one event of one contract."""

        def register(handler: Handler) -> Handler:
            self.handlers.setdefault((contract, event), []).append(handler)
            return handler

        return register

    def on_runs(self, contract: str, event: str) -> Callable[[RunHandler], RunHandler]:
        """Register a handler for runs of consecutive events of one kind.

        For busy events (a batch of claims or awards makes hundreds in a row):
        the handler writes a run with a few statements instead of a few per
        event, and the indexer's write transaction, which every other writer
        waits for on SQLite, stays short. Runs keep the chain order.
        """

        def register(handler: RunHandler) -> RunHandler:
            self.run_handlers.setdefault((contract, event), []).append(handler)
            return handler

        return register

    def owns(self, *tables: Table) -> None:
        """Declare read-model tables rebuilt from events after a rewind."""
        self.tables.extend(tables)

    def apply(self, session: Session, events: list[IndexedEvent]) -> None:
        i = 0
        while i < len(events):
            key = (events[i].contract, events[i].name)
            end = i + 1
            if key in self.run_handlers:
                while end < len(events) and (events[end].contract, events[end].name) == key:
                    end += 1
                for run_handler in self.run_handlers[key]:
                    run_handler(session, events[i:end])
            for event in events[i:end]:
                for handler in self.handlers.get(key, ()):
                    handler(session, event)
            i = end


PROJECTIONS = Projections()


def json_safe(value: Any) -> Any:
    """Event values as JSON: bytes become 0x hex, tuples lists."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
