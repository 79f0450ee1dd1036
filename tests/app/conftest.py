"""App test fixtures: a tiny random-weight ensemble behind ``get_ensemble``, isolated folders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import pytest
import streamlit as st

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture(scope="session")
def app_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ocm_app_tmp")


@pytest.fixture(autouse=True)
def app_env(monkeypatch: pytest.MonkeyPatch, app_tmp: Path, tiny_ensemble: Any) -> Iterator[None]:
    """Agg backend, cleared caches, the tiny ensemble as the model, temp files in ``app_tmp``."""
    matplotlib.use("Agg")
    monkeypatch.setenv("OCM_APP_TMP", str(app_tmp))
    # The procedural demo scene (384 px, fast, deterministic) unless a test fetches the real one.
    monkeypatch.setenv("OCM_DEMO_DIR", str(app_tmp / "no_demo"))
    from ocm_app import resources

    monkeypatch.setattr(resources, "get_ensemble", lambda *args, **kwargs: tiny_ensemble)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def empty_samples(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A samples folder with nothing in it: the gallery holds only the built-in scene."""
    folder = tmp_path / "samples"
    folder.mkdir()
    monkeypatch.setenv("OCM_SAMPLES_DIR", str(folder))
    return folder


def new_app(timeout: float = 60) -> Any:
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(APP, default_timeout=timeout)
