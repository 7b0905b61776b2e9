"""Keep the platform process running: start it, restart it when it dies, stop it cleanly.

`couponchain up` runs a small supervisor (this module, standard library only) in
front of the platform process (API, gateway, indexer and background loops, with
the embedded node as its own child):

    supervisor = Supervisor([sys.executable, "-m", "couponchain.cli", "up", "--no-supervise"])
    sys.exit(supervisor.run())

The supervisor binds the listen address itself (a busy port is an error before
anything starts) and hands the socket to each platform process. It restarts the
platform after any death but a clean stop (exit code
0): at once after a run that was ready for `STABLE_AFTER` seconds, else after a
delay doubling from `BACKOFF_FIRST` to `BACKOFF_MAX` (a crash loop), printing one
line per restart that names the cause. Each platform process learns what came
before it from the environment (`PlatformState`), so `/v1/health` and `/metrics`
show the restarts, the last cause and the last outage.

The platform runs in its own process group: Ctrl-C and SIGTERM reach the
supervisor only, which asks the platform to stop (SIGTERM, which the platform
takes as Ctrl-C) and, once it has exited, kills whatever is left in its group (access-log
worker processes). The platform dies with the supervisor even when the supervisor
is killed (PR_SET_PDEATHSIG), and its node dies with it the same way.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType

__all__ = ["PlatformState", "PortInUse", "Supervisor", "backoff", "current", "describe_exit",
           "die_with_parent", "inherited_listener", "listen", "mark_ready", "notify"]

log = logging.getLogger(__name__)

STATE_ENV = "COUPONCHAIN_SUPERVISION"  # JSON of PlatformState, set by the supervisor
NOTIFY_ENV = "COUPONCHAIN_SUPERVISION_FD"  # the pipe the platform says "ready" on
LISTEN_ENV = "COUPONCHAIN_SUPERVISION_LISTEN_FD"  # the socket the platform serves on
LISTEN_BACKLOG = 2048  # uvicorn's default

STABLE_AFTER = 30.0  # seconds ready before a death no longer counts as a crash loop
BACKOFF_FIRST = 0.5  # seconds; doubles per quick death in a row
BACKOFF_MAX = 30.0
STOP_TIMEOUT = 30.0  # seconds between asking the platform to stop and SIGKILL
_PR_SET_PDEATHSIG = 1


class PortInUse(OSError):
    """The listen address cannot be bound: something else holds it."""


def listen(host: str, port: int, wait: float = 2.0) -> socket.socket:
    """A listening TCP socket on (host, port), or PortInUse, trying for up to `wait` s.

    Bound the way uvicorn binds (SO_REUSEADDR), so a port in TIME_WAIT counts as
    free; the short wait covers a platform that was just killed and whose
    process is still being torn down by the kernel. The supervisor holds it for
    as long as it runs and hands it to each platform process: the port cannot be
    taken while the platform restarts, and connections made meanwhile wait in
    its backlog for the next platform instead of being refused.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + wait
    while True:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            sock.listen(LISTEN_BACKLOG)
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise PortInUse(exc.errno, f"cannot listen on {host}:{port}: "
                                f"{exc.strerror or exc}") from exc
        time.sleep(0.1)


def inherited_listener() -> socket.socket | None:
    """The listening socket the supervisor handed this process, if it handed one."""
    fd = os.environ.get(LISTEN_ENV)
    return None if not fd else socket.socket(fileno=int(fd))


def describe_exit(returncode: int) -> str:
    """How a process ended, from Popen's returncode: "SIGKILL" or "exit code 2"."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


def backoff(quick_deaths: int) -> float:
    """Seconds to wait before the next start after `quick_deaths` quick deaths in a row."""
    if quick_deaths <= 0:
        return 0.0
    return min(BACKOFF_FIRST * 2 ** (quick_deaths - 1), BACKOFF_MAX)


@dataclass
class PlatformState:
    """What a platform process knows of the processes that ran before it."""

    supervised: bool = False
    restarts: int = 0
    #: Restarts by cause ("SIGKILL", "exit code 1", ...).
    causes: dict[str, int] = field(default_factory=dict)
    last_cause: str | None = None
    #: The last error the dead process reported before dying, if it reported one.
    last_error: str | None = None
    #: When the last platform process died (Unix time).
    last_died_at: float | None = None
    #: When this process started serving (Unix time), once it has.
    ready_at: float | None = None

    def to_env(self) -> str:
        """The JSON the supervisor hands the next platform process."""
        return json.dumps({"restarts": self.restarts, "causes": self.causes,
                           "last_cause": self.last_cause, "last_error": self.last_error,
                           "last_died_at": self.last_died_at})

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PlatformState:
        """The state the supervisor handed this process; unsupervised when there is none."""
        raw = environ.get(STATE_ENV)
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(supervised=True, restarts=int(data["restarts"]),
                   causes={str(k): int(v) for k, v in data["causes"].items()},
                   last_cause=data["last_cause"], last_error=data["last_error"],
                   last_died_at=data["last_died_at"])

    @property
    def last_restart_at(self) -> str | None:
        """The last death's time, ISO 8601 in UTC."""
        if self.last_died_at is None:
            return None
        return datetime.fromtimestamp(self.last_died_at, UTC).isoformat(timespec="milliseconds")

    @property
    def last_outage_seconds(self) -> float | None:
        """From the last death to this process serving again."""
        if self.last_died_at is None or self.ready_at is None:
            return None
        return round(self.ready_at - self.last_died_at, 3)


_current: PlatformState | None = None


def current() -> PlatformState:
    """This process's PlatformState (read from the environment once)."""
    global _current
    if _current is None:
        _current = PlatformState.from_env(os.environ)
    return _current


def mark_ready() -> None:
    """Record that this platform process serves, and tell its supervisor (if any)."""
    current().ready_at = time.time()
    notify("ready")


def notify(message: str) -> None:
    """Send one line to the supervisor ("ready", or "error <why>"); no-op unsupervised."""
    fd = os.environ.get(NOTIFY_ENV)
    if not fd:
        return
    line = " ".join(message.split())[:500] + "\n"
    with contextlib.suppress(OSError):
        os.write(int(fd), line.encode(errors="replace"))


def die_with_parent(parent: int) -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; else nothing).

    Called first thing in a child: `parent` is the pid the parent had when it
    started the child, so a parent that died before the call is noticed too.
    The signal comes when the parent's *thread* that started the child exits:
    start children from a thread that lives as long as the process.
    """
    if sys.platform.startswith("linux"):
        import ctypes  # here: ctypes costs the `couponchain` command 20-50 ms to import

        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)


def _die_with_parent(parent: int) -> Callable[[], None]:
    """A preexec_fn: the platform gets SIGKILL when the supervisor dies.

    SIGKILL, as if the platform itself had been killed: that is what a crash of
    the supervisor means, and the platform's node follows through its own death
    signal.
    """
    return lambda: die_with_parent(parent)


class Supervisor:
    """Runs one command (the platform) until asked to stop; restarts it when it dies."""

    def __init__(self, command: list[str], env: Mapping[str, str] | None = None,
                 say: Callable[[str], None] | None = None,
                 listener: socket.socket | None = None) -> None:
        self.command = command
        #: Handed to every platform process (see `listen`).
        self.listener = listener
        self.env = dict(os.environ if env is None else env)
        #: Where the restart lines go: a warning of this module's logger by default
        #: (stderr, or JSON with COUPONCHAIN_LOG_FORMAT=json).
        self.say = say or log.warning
        self.state = PlatformState(supervised=True)
        self._proc: subprocess.Popen[bytes] | None = None
        self._stop_signal: int | None = None
        self._stop_deadline: float | None = None

    def run(self) -> int:
        """Supervise until SIGINT/SIGTERM or a clean exit; returns the exit code to use."""
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            return self._loop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._stop_signal is None:
            self._stop_signal = signum
            self._stop_deadline = time.monotonic() + STOP_TIMEOUT
            # SIGTERM: the platform's clean stop (cli.up._serve) once it has set up,
            # and a silent end while it is still importing (SIGINT would print a
            # KeyboardInterrupt traceback then).
            self._signal_platform(signal.SIGTERM)
        else:  # asked twice: stop now
            self._stop_deadline = time.monotonic()

    def _signal_platform(self, signum: int) -> None:
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signum)

    def _loop(self) -> int:
        quick_deaths = 0
        while self._stop_signal is None:
            started = time.monotonic()
            returncode, ready_for, error = self._run_once()
            if self._stop_signal is not None:
                break
            if returncode == 0:
                return 0  # a clean stop asked of the platform itself
            self.state.restarts += 1
            cause = describe_exit(returncode)
            self.state.causes[cause] = self.state.causes.get(cause, 0) + 1
            self.state.last_cause, self.state.last_error = cause, error
            self.state.last_died_at = time.time()
            quick_deaths = 0 if (ready_for or 0) >= STABLE_AFTER else quick_deaths + 1
            delay = backoff(quick_deaths)
            lived = time.monotonic() - started
            how = (f"died ({cause})" if returncode < 0 else f"exited with {cause}")
            when = (f"after {ready_for:.1f} s serving" if ready_for is not None
                    else f"{lived:.1f} s after start, before it was ready")
            why = f": {error}" if error else ""
            self.say(f"platform process {how} {when}{why}; restarting in {delay:.1f} s "
                     f"(restart {self.state.restarts})")
            self._sleep(delay)
        return 0

    def _sleep(self, seconds: float) -> None:
        """Sleep, cut short by a stop signal."""
        deadline = time.monotonic() + seconds
        while self._stop_signal is None and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))

    def _run_once(self) -> tuple[int, float | None, str | None]:
        """Start the platform and wait for it to exit.

        Returns its returncode, how long it served (None if it never got ready)
        and the last error it reported.
        """
        read_end, write_end = os.pipe()
        env = {**self.env, STATE_ENV: self.state.to_env(), NOTIFY_ENV: str(write_end)}
        passed = [write_end]
        if self.listener is not None:
            env[LISTEN_ENV] = str(self.listener.fileno())
            passed.append(self.listener.fileno())
        try:
            self._proc = proc = subprocess.Popen(
                self.command, env=env, stdin=subprocess.DEVNULL, pass_fds=passed,
                process_group=0, preexec_fn=_die_with_parent(os.getpid()))
        finally:
            os.close(write_end)
        if self._stop_signal is not None:  # a signal came while it was being spawned
            self._signal_platform(signal.SIGTERM)
        ready_at: float | None = None
        error: str | None = None
        buffer = b""
        try:
            pidfd = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            pidfd = None
        waiting = [read_end] + ([pidfd] if pidfd is not None else [])
        try:
            while proc.poll() is None:
                if self._stop_deadline is not None and time.monotonic() >= self._stop_deadline:
                    self._signal_platform(signal.SIGKILL)
                readable, _, _ = select.select(waiting, [], [], 0.1 if pidfd is None else 0.5)
                if read_end not in readable:
                    continue
                chunk = os.read(read_end, 4096)
                if not chunk:  # the platform closed the pipe: only its exit is left to see
                    waiting.remove(read_end)
                    continue
                *lines, buffer = (buffer + chunk).split(b"\n")
                for line in lines:
                    text = line.decode(errors="replace")
                    if text == "ready":
                        ready_at = time.monotonic()
                    elif text.startswith("error "):
                        error = text.removeprefix("error ")
        finally:
            os.close(read_end)
            if pidfd is not None:
                os.close(pidfd)
            # Whatever the platform left in its group (access-log workers) goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode is not None
        ready_for = None if ready_at is None else time.monotonic() - ready_at
        return proc.returncode, ready_for, error
