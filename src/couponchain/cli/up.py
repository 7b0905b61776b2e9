"""`couponchain up`: supervise the platform process, or (`--no-supervise`) be it.

    couponchain up                  # a supervisor, and the platform as its child
    couponchain up --no-supervise   # the platform in this process (what the child runs)

Both check what start-up needs and no restart would mend first (the listen
address, then the data directory), and say what is wrong in one line before
anything starts. The supervisor (`couponchain.supervision`) then starts the
platform and restarts it whenever it dies; see docs/operations.md.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from couponchain.cli.common import _fail, _settings, console
from couponchain.errors import CouponChainError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from couponchain.config import Settings


@click.command()
@click.option("--demo", is_flag=True,
              help="dev mode with demo participants; the home page hands out their keys")
@click.option("--host", default=None, help="listen address (default 127.0.0.1)")
@click.option("--port", type=int, default=None, help="listen port (default 8000)")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="where the database, journal and node logs live")
@click.option("--supervise/--no-supervise", default=True, show_default=True,
              help="run the platform as a child process, restarted when it dies")
@click.pass_context
def up(ctx: click.Context, demo: bool, host: str | None, port: int | None,
       data_dir: Path | None, supervise: bool) -> None:
    """Start the platform (embedded node unless COUPONCHAIN_RPC_URL is set) and serve it,
    restarting it whenever it dies."""
    # Imported here: every command imports this module, and `verify` counts its imports.
    from couponchain import supervision

    try:
        # --demo is the explicit ask for dev mode (default secret allowed, demo keys shown).
        settings = _settings(host=host, port=port, data_dir=data_dir,
                             dev_mode=True if demo else None)
    except CouponChainError as exc:  # a configuration error: no restart would mend it
        _fail(exc.message)
        return
    # The supervisor's platform process inherits its listener, checked already.
    listener = supervision.inherited_listener()
    if listener is None:
        try:
            listener = supervision.listen(settings.host, settings.port)
        except supervision.PortInUse as exc:
            _fail(f"{exc.strerror}; is another `couponchain up` running? "
                  "Stop it or choose another --port")
            return
        problem = data_dir_problem(settings.data_dir)
        if problem is not None:
            listener.close()
            _fail(problem)
            return
    if not supervise:
        _serve(settings, demo, listener)
        return
    verbose = ctx.find_root().params.get("verbose", False)
    command = [sys.executable, "-m", "couponchain.cli", *(["-v"] if verbose else []), "up",
               "--no-supervise", "--host", settings.host, "--port", str(settings.port),
               *(["--data-dir", str(data_dir)] if data_dir is not None else []),
               *(["--demo"] if demo else [])]
    with listener:
        code = supervision.Supervisor(command, listener=listener).run()
    sys.exit(code)


def data_dir_problem(path: Path) -> str | None:
    """Why the data directory cannot be used (one line), or None. Creates nothing:
    the platform makes the directory when it starts."""
    where = path.absolute()
    existing = where
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return (f"the data directory {where} cannot be made: {existing} is not a directory "
                "(set --data-dir or COUPONCHAIN_DATA_DIR)")
    if not os.access(existing, os.W_OK | os.X_OK):
        return (f"the data directory {where} cannot be written: no write permission on "
                f"{existing} (set --data-dir or COUPONCHAIN_DATA_DIR)")
    return None


def _serve(settings: Settings, demo: bool, listener: socket.socket) -> None:
    """Run the platform in this process until SIGINT or SIGTERM, then stop it cleanly."""
    import uvloop

    from couponchain import supervision

    # SIGTERM takes the same path as Ctrl-C. Left at its default, it ended the
    # process before the runtime stopped (uvicorn re-raises the signal it caught
    # once it has shut down), which left the access-log workers running.
    signal.signal(signal.SIGTERM, lambda _sig, _frame: signal.raise_signal(signal.SIGINT))
    try:
        # uvloop: the platform's event loop carries the API, the gateway, the indexer
        # and the recorders; uvloop runs its I/O in C (uvicorn's HTTP parsing is
        # httptools' for the same reason).
        uvloop.run(_up(settings, demo, listener))
    except CouponChainError as exc:
        supervision.notify(f"error {exc.message}")
        _fail(exc.message)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # the traceback follows; the supervisor names the error
        supervision.notify(f"error {type(exc).__name__}: {exc}")
        raise


async def _with_progress(label: str, seed: Callable[[Callable[[int, int], None]],
                                                    Awaitable[dict[str, Any]]],
                         ) -> dict[str, Any]:
    """Run one demo seeding step under a progress bar fed by its (done, total) ticks."""
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=None)
        return await seed(lambda done, total: progress.update(task, completed=done,
                                                                total=total))


async def _up(settings: Settings, demo: bool, listener: socket.socket) -> None:
    import asyncio
    import gc

    import uvicorn
    from rich.progress import Progress

    from couponchain import supervision
    from couponchain.api.app import create_app
    from couponchain.runtime import Runtime
    from couponchain.services import demo as demo_data

    with Progress(console=console, transient=True) as progress:
        starting = progress.add_task("starting the chain, the journal and the contracts",
                                     total=None)
        replay: list[TaskID] = []

        def replayed(done: int, total: int) -> None:
            if not replay:
                replay.append(progress.add_task("replaying the journal into the node",
                                                total=total))
            progress.update(replay[0], completed=done, total=total)

        runtime = Runtime(settings, replay_progress=replayed)
        try:
            await runtime.start()
        except BaseException:
            await runtime.stop()
            raise
        progress.remove_task(starting)
        runtime.gateway.reconciler.progress = None  # later replays go to the log
    try:
        if runtime.gateway.reconciler.last.replayed:
            report = runtime.gateway.reconciler.last
            console.print(f"replayed {report.replayed} journaled transactions into the node "
                          f"in {report.seconds:.1f} s")
        if demo:
            seeded = await _with_progress("seeding demo participants",
                                          lambda tick: demo_data.seed(runtime, tick))
            console.print(f"demo: {len(seeded['merchants'])} merchants, "
                          f"{len(seeded['terminals'])} terminals, "
                          f"{len(seeded['consumers'])} consumers")
            story = await _with_progress(
                "demo promotion round: grants, transfers, write-offs",
                lambda tick: demo_data.seed_promotions(runtime, seeded, tick))
            if story["created"]:
                console.print(f"demo: promotion round {story['round_id']} with "
                              f"{story['granted']} coupons granted and "
                              f"{story['written_off']} written off")
            told = await _with_progress(
                "demo: a month of access logs, rules and reports",
                lambda tick: demo_data.seed_marketing(runtime, seeded, tick))
            if told["created"]:
                console.print(f"demo: {told['records']:,} access-log records, "
                              f"{told['reports']} reports delivered")
            stories = [("a limited edition of 99, sold online and at the till",
                        demo_data.seed_editions),
                       ("a product in its third batch, sold through links",
                        demo_data.seed_referrals),
                       ("a prize campaign, claimed by scanning", demo_data.seed_prizes)]
            # Three merchants' stories, independent of each other: seeded together, so
            # their writes share blocks (a second each on geth).
            with console.status("demo: an edition, a product sold through links, a prize "
                                "campaign"):
                tolds = await asyncio.gather(*(seed_story(runtime, seeded)
                                               for _, seed_story in stories))
            for (label, _), told in zip(stories, tolds, strict=True):
                if told.pop("created"):
                    facts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in told.items())
                    console.print(f"demo: {label} ({facts})")
            if settings.dev_mode:  # the home page's tour hands out the demo keys
                runtime.demo_tour = demo_data.tour(runtime, seeded)
        app = create_app(runtime, manage_runtime=False)
        server = uvicorn.Server(uvicorn.Config(
            app, host=settings.host, port=settings.port, log_level="warning",
            timeout_graceful_shutdown=5))
        # The listener was bound before anything started (the supervisor's, when supervised).
        serving = asyncio.create_task(server.serve([listener]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if serving.done():
            await serving
            return
        # What start-up made (modules, compiled contracts, the app) lives as long as the
        # process: frozen out of the collector's way, a full collection under load scans
        # only what came after (measured: 30-50 ms pauses among prize claims before).
        gc.collect()
        gc.freeze()
        url = f"http://{settings.host}:{settings.port}"
        if runtime.platform.api_key:
            console.print(f"platform admin API key: [bold]{runtime.platform.api_key}[/bold]"
                          " (shown now only; store it)", soft_wrap=True, highlight=False)
        else:
            console.print("platform admin API key: shown at the first start only; "
                          "`couponchain keys create-admin` makes a new one", highlight=False)
        console.print(f"chain: {runtime.rpc.url} (chain id {runtime.chain_id})")
        # The trust anchor of `couponchain verify` (docs/verification.md): publish it.
        console.print(f"trust anchor: chain id {runtime.chain_id}, registry "
                      f"{runtime.addresses.get('registry')}", highlight=False)
        if settings.host in ("127.0.0.1", "::1"):
            # Browsers refuse passkeys on an IP address; the same server answers here.
            console.print(f"passkeys: open http://localhost:{settings.port} to sign up or "
                          "sign in with one", highlight=False)
        print(f"READY {url}", flush=True)
        supervision.mark_ready()
        await serving
    finally:
        # Frozen objects are never collected: DuckDB's bindings would count them as
        # leaked at exit and print 48 lines of warnings after every Ctrl-C.
        gc.unfreeze()
        await runtime.stop()


