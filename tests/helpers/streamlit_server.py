"""Start the app with ``streamlit run`` on a loopback port for real-browser tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_app(tmp_path: Path, weights_dir: Path, *, extra_args: Sequence[str] = (),
              start_timeout_s: float = 60) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``app.py`` on the tiny weights with an empty samples folder; yield (url, process)."""
    port = free_port()
    samples = tmp_path / "samples"
    samples.mkdir()
    env = dict(os.environ, OCM_APP_MODEL=str(weights_dir), OCM_SAMPLES_DIR=str(samples),
               OCM_APP_TMP=str(tmp_path / "apptmp"), OMP_NUM_THREADS="1")
    log_path = tmp_path / "streamlit.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1", *extra_args],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + start_timeout_s
        while time.time() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        else:
            pytest.fail(f"streamlit did not start: {log_path.read_text()}")
        yield f"http://127.0.0.1:{port}/", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
