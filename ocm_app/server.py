"""Run the app as a real server on a loopback port: one start-up for browser tests, benchmarks and CI.

``streamlit run app.py`` in a child process, on ``127.0.0.1`` and a free port, with the
environment the caller gives; ready once ``/_stcore/health`` answers ``ok``; stopped (terminate,
then kill) when the ``with`` block ends. Used by the browser tests, ``bench/load.py`` and
``bench/app_run.py``, and the install smoke check (``.ci/smoke_checks.py``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ocm_engine.errors import Hints, OcmError

#: The project root (``app.py`` lies there; the app runs from it).
REPO = Path(__file__).resolve().parents[1]


class AppServerError(OcmError, RuntimeError):
    """The app server exited or did not answer its health check in time.

    Attributes:
        log_tail: The end of the server's log.
    """

    def __init__(self, url: str, *, arrived: str, timeout_s: float, log_tail: str) -> None:
        self.log_tail = log_tail
        super().__init__(f"App server {url}", arrived=arrived,
                         expected=f"'ok' from /_stcore/health within {timeout_s:g} s",
                         hints=Hints.same(f"Its log ends: {log_tail[-800:] or '(empty)'}"))


@dataclass(frozen=True, slots=True)
class AppServer:
    """A running server.

    Attributes:
        url: Its address, ending in ``/``.
        process: The server's process.
        log_path: Where its output goes.
    """

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """The server's output so far."""
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}_stcore/health", timeout=5) as resp:
            return bool(resp.status == 200 and resp.read().strip() == b"ok")
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def serve(log_path: Path, *, env: Mapping[str, str | None] | None = None, launcher: Sequence[str] | None = None,
          extra_args: Sequence[str] = (), start_timeout_s: float = 90.0) -> Iterator[AppServer]:
    """Start the app on a free loopback port and stop it when the block ends.

    Args:
        log_path: File for the server's output (created or replaced).
        env: Changes to this process's environment for the server (``None`` removes a variable).
        launcher: The command before the server options; ``python -m streamlit run app.py`` by
            default (a test wrapper that patches the process first and then starts Streamlit
            with the options it is given goes here).
        extra_args: More ``streamlit run`` options (``--server.fileWatcherType none``).
        start_timeout_s: How long to wait for the health check.

    Yields:
        The running :class:`AppServer`.

    Raises:
        AppServerError: The server exited, or did not answer in time (the log's end is in the hint).
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    child_env = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            child_env.pop(key, None)
        else:
            child_env[key] = value
    start = list(launcher or (sys.executable, "-m", "streamlit", "run", str(REPO / "app.py")))
    command = [*start, "--server.port", str(port), "--server.headless", "true", "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false", *extra_args]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=REPO, env=child_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + start_timeout_s
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    arrived = (f"exit code {proc.returncode}" if proc.poll() is not None
                               else f"no answer after {start_timeout_s:g} s")
                    raise AppServerError(url, arrived=arrived, timeout_s=start_timeout_s,
                                         log_tail=log_path.read_text(errors="replace")[-2000:])
                time.sleep(0.3)
            yield AppServer(url, proc, log_path)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
