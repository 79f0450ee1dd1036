"""Start the app with ``streamlit run`` on a loopback port for real-browser tests (``ocm_app.server``)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from ocm_app.server import REPO, AppServerError, free_port, serve

__all__ = ["REPO", "free_port", "serve_app"]


@contextlib.contextmanager
def serve_app(tmp_path: Path, weights_dir: Path, *, extra_args: Sequence[str] = (),
              start_timeout_s: float = 60) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``app.py`` on the tiny weights with an empty samples folder; yield (url, process)."""
    samples = tmp_path / "samples"
    samples.mkdir()
    env = {"OCM_APP_MODEL": str(weights_dir), "OCM_SAMPLES_DIR": str(samples),
           "OCM_APP_TMP": str(tmp_path / "apptmp"), "OMP_NUM_THREADS": "1"}
    try:
        with serve(tmp_path / "streamlit.log", env=env, extra_args=extra_args,
                   start_timeout_s=start_timeout_s) as server:
            yield server.url, server.process
    except AppServerError as err:
        pytest.fail(str(err))
