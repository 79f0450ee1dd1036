"""Fixtures of the reliability suite: the generated bad-input corpus, CLI weights, a deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

from .corpus import build_corpus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | list[Path]]:
    """Every corpus case written once per session; inputs by case name."""
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def cli_weights(make_weights: Callable[..., Path]) -> Path:
    """One registry ``test_resnet`` member, as the CLI's ``--weights`` loads it."""
    return make_weights(1, seed=3)


@pytest.fixture(autouse=True)
def deadline(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail (instead of hanging) a test that runs past its budget: 60 s, or @pytest.mark.slow 900 s."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return
    seconds = 900 if request.node.get_closest_marker("slow") else 60

    def on_alarm(_sig: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"{request.node.nodeid} ran past its {seconds} s deadline (a hang?)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_cli(*args: str, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python3 -m ocm_engine ARGS`` in a subprocess with a hard timeout."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ocm_engine", *args], capture_output=True, text=True,
        timeout=timeout, cwd=REPO, env=full_env, check=False,
    )


@pytest.fixture
def cli() -> object:
    """The :func:`run_cli` helper."""
    return run_cli
