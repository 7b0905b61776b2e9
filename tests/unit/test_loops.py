"""loops.BackgroundLoop: a step every N seconds that survives its failures and stops cleanly."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from couponchain.loops import BackgroundLoop

log = logging.getLogger("test_loops")


async def _until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_a_step_that_raises_is_logged_and_the_loop_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    async def step() -> None:
        calls.append(len(calls))
        if len(calls) <= 2:
            raise RuntimeError(f"hiccup {len(calls)}")

    loop = BackgroundLoop("flaky", step, interval=0.01, logger=log,
                          failed="flaky round failed; retrying")
    with caplog.at_level(logging.ERROR, logger="test_loops"):
        loop.start()
        try:
            await _until(lambda: len(calls) >= 5)
            assert loop.running
        finally:
            await loop.stop()
    failures = [r for r in caplog.records if r.name == "test_loops"]
    assert [r.getMessage() for r in failures] == ["flaky round failed; retrying"] * 2
    assert [str(r.exc_info[1]) for r in failures if r.exc_info] == ["hiccup 1", "hiccup 2"]


async def test_stop_ends_the_loop_promptly_even_mid_step_or_mid_wait() -> None:
    started = asyncio.Event()
    cancelled: list[bool] = []

    async def slow_step() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def quick_step() -> None:
        started.set()

    for loop in (BackgroundLoop("slow step", slow_step, interval=0.01),
                 BackgroundLoop("long wait", quick_step, interval=60)):
        started.clear()
        loop.start()
        await asyncio.wait_for(started.wait(), 5)
        began = time.monotonic()
        await loop.stop()
        assert time.monotonic() - began < 0.5
        assert not loop.running
    assert cancelled == [True]  # the step in flight saw the cancellation


async def test_the_interval_separates_runs() -> None:
    starts: list[float] = []

    async def step() -> None:
        starts.append(time.monotonic())
        await asyncio.sleep(0.02)  # the wait counts from the end of a run

    loop = BackgroundLoop("timed", step, interval=0.05)
    loop.start()
    try:
        await _until(lambda: len(starts) >= 5)
    finally:
        await loop.stop()
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(gap >= 0.07 - 0.005 for gap in gaps), gaps
    assert sum(gaps) / len(gaps) < 0.5, gaps  # and the loop does not stall


async def test_a_failed_step_is_retried_after_retry_after() -> None:
    starts: list[float] = []

    async def step() -> None:
        starts.append(time.monotonic())
        raise ValueError("always")

    loop = BackgroundLoop("retrying", step, interval=60, retry_after=0.02, logger=log)
    loop.start()
    try:
        await _until(lambda: len(starts) >= 3)
    finally:
        await loop.stop()
    assert all(b - a >= 0.015 for a, b in zip(starts, starts[1:], strict=False))


async def test_a_wake_event_runs_the_step_at_once() -> None:
    wake = asyncio.Event()
    runs: list[float] = []

    async def step() -> None:
        runs.append(time.monotonic())

    loop = BackgroundLoop("woken", step, interval=None, wake=wake)
    loop.start()
    try:
        await _until(lambda: len(runs) == 1)  # the first run comes at start
        await asyncio.sleep(0.05)
        assert len(runs) == 1  # no interval: nothing until woken
        wake.set()
        await _until(lambda: len(runs) == 2, timeout=0.5)
        assert not wake.is_set()  # consumed by that run
    finally:
        await loop.stop()


async def test_a_loop_runs_once_at_a_time_and_needs_an_interval_or_a_wake() -> None:
    async def step() -> None:
        return None

    loop = BackgroundLoop("single", step, interval=1)
    loop.start()
    try:
        with pytest.raises(RuntimeError):
            loop.start()
    finally:
        await loop.stop()
    await loop.stop()  # stopping twice (or a loop never started) is harmless
    loop.start()  # and a stopped loop starts again
    await loop.stop()
    with pytest.raises(ValueError):
        BackgroundLoop("nothing", step, interval=None)
