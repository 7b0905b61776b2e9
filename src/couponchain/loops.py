"""One background loop: run a step every N seconds until stopped, surviving its failures.

The platform's periodic work (the promotion pool distributor, the marketing
report scheduler and webhook deliveries, the prize claim sweeper and settler)
has one shape, written once here:

    distributor = BackgroundLoop("promotion pool distributor", service.distribute_due,
                                 interval=5.0, logger=log,
                                 failed="distributing promotion pools failed; retrying")
    distributor.start()            # in the running event loop
    ...
    await distributor.stop()       # cancels the step in flight; returns promptly

The step runs at once, then `interval` seconds after each run ends (a slow
step is not run twice at once, and runs do not pile up). A step that raises is
logged with its traceback and run again `retry_after` seconds later (by
default `interval`): a node restart or a database hiccup must not end the
work for the life of the process. Cancellation (`stop`) is never swallowed.

With `wake` (an `asyncio.Event`), setting the event cuts the wait short, and
`interval=None` waits for the event alone: outcomes that arrive are handled
at once, without polling.

Loops of another shape keep their own code: the gateway's group committer and
sender (queue-driven), the reconciler and the node's supervision (retry until
done, with backoff), and the indexer (a step that says whether to pause).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["BackgroundLoop"]

_log = logging.getLogger(__name__)


class BackgroundLoop:
    """Runs `step` in a task, `interval` seconds apart, until `stop`."""

    def __init__(self, name: str, step: Callable[[], Awaitable[object]],
                 interval: float | None, *, wake: asyncio.Event | None = None,
                 retry_after: float | None = None, failed: str | None = None,
                 logger: logging.Logger | None = None) -> None:
        if interval is None and wake is None:
            raise ValueError("a loop without an interval needs a wake event")
        if interval is not None and interval < 0:
            raise ValueError("the interval must not be negative")
        #: The task's name (shown in task dumps and logs).
        self.name = name
        self.interval = interval
        self._step = step
        self._wake = wake
        self._retry_after = (retry_after if retry_after is not None
                             else interval if interval is not None else 1.0)
        self._failed = failed or f"{name} failed; retrying"
        self._log = logger or _log
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the loop's task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop in the running event loop (once; stop it before starting again)."""
        if self.running:
            raise RuntimeError(f"{self.name} is running already")
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop (and the step in flight) and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._log.exception(self._failed)
                await asyncio.sleep(self._retry_after)
                continue
            await self._pause()

    async def _pause(self) -> None:
        if self._wake is None:
            await asyncio.sleep(self.interval or 0)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.interval)
        self._wake.clear()
