"""The sidebar's model panel: the model line, the official-weights button (loopback hub), offline, hosted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ocm_app import weights_panel
from ocm_engine.models import official
from ocm_engine.models import weights as registry
from tests.helpers.hub_server import HubServer, tiny_official_specs


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_weights: Callable[..., Path],
        empty_samples: Path) -> Iterator[HubServer]:
    """An empty home, the tiny pair pinned as the official one, and a loopback hub serving it."""
    payloads = [p.read_bytes() for p in sorted(make_weights(2, seed=5).iterdir())]
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("OCM_WEIGHTS_DIR", "XDG_DATA_HOME", "LOCALAPPDATA", "HF_HUB_OFFLINE", "OCM_TRUSTED_LOCAL",
                "OCM_APP_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(registry, "OFFICIAL_WEIGHTS", tiny_official_specs(payloads))
    with HubServer(registry.HUB_REPO_ID, registry.HUB_REVISION) as server:
        for spec, data in zip(official.official_specs(), payloads, strict=True):
            server.add(spec.file, data)
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        yield server


def _captions(at: Any) -> str:
    return "\n".join(c.value for c in at.sidebar.caption)


def _panel() -> None:
    """The panel alone (AppTest does not deliver clicks to widgets of an ``st.navigation`` entrypoint)."""
    import streamlit as st

    from ocm_app import weights_panel

    with st.sidebar:
        weights_panel.render()


def _panel_app() -> Any:
    from streamlit.testing.v1 import AppTest

    return AppTest.from_function(_panel, default_timeout=60)


def test_trusted_local_download_switches_every_session_to_official(hub: HubServer, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCM_TRUSTED_LOCAL", "1")
    at = _panel_app().run()  # the whole app's sidebar: test_get_official_weights_in_chromium (slow)
    assert not at.exception
    assert "ocm-studio-default" in _captions(at) and "published" not in _captions(at)
    button = at.sidebar.button(key=weights_panel.DOWNLOAD_KEY)
    assert button.label == weights_panel.DOWNLOAD_LABEL == "Get the official weights (58 MB)"
    button.click().run()
    assert not at.exception
    assert (tmp_path / "home" / ".cache" / "ocm_studio" / "weights" / official.official_specs()[0].file).is_file()
    assert "OmniCloudMask v4 (official)" in _captions(at) and "92.4" in _captions(at)
    assert at.sidebar.selectbox(key="model_source").value == "official"
    assert not [b for b in at.sidebar.button if b.key == weights_panel.DOWNLOAD_KEY]
    other = _panel_app().run()  # another session, started after the download
    assert other.sidebar.selectbox(key="model_source").value == "official"
    assert "this project's cache" in _captions(other)


def test_offline_says_so_in_one_line_and_stays_on_default(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCM_TRUSTED_LOCAL", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = _panel_app().run()
    assert not at.exception and not [b for b in at.sidebar.button if b.key == weights_panel.DOWNLOAD_KEY]
    assert "Offline (HF_HUB_OFFLINE is set)" in _captions(at)
    assert at.sidebar.selectbox(key="model_source").value == "default" and not hub.requests


def test_hosted_offers_no_button_and_names_no_server_path(hub: HubServer, tmp_path: Path) -> None:
    at = _panel_app().run()
    assert not at.exception and not [b for b in at.sidebar.button if b.key == weights_panel.DOWNLOAD_KEY]
    text = _captions(at)
    assert "operator" in text and "ocm weights --download" in text and str(tmp_path) not in text
    at = _panel_app().run()
    at.sidebar.selectbox(key="model_source").select("official").run()
    text = _captions(at)
    assert "not installed here, so the default model runs" in text and str(tmp_path) not in text


@pytest.mark.slow
def test_get_official_weights_in_chromium(tmp_path: Path, make_weights: Callable[..., Path]) -> None:
    """The real app in headless Chromium: default model line, the button against the loopback hub,
    the progress element while it downloads, and the official model line after it."""
    import os
    import shutil
    import sys

    from ocm_app import server as app_server
    from tests.app.test_browser import _chromium, _driver
    from tests.helpers.streamlit_server import REPO

    found = _chromium()
    if found is None:
        pytest.skip("chromium/chromedriver not installed (run .ci/browser-deps)")
    pytest.importorskip("selenium")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    shots = Path(os.environ.get("OCM_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    payload_dir = make_weights(2, seed=5)
    payloads = [p.read_bytes() for p in sorted(payload_dir.iterdir())]
    home = tmp_path / "home"
    (tmp_path / "samples").mkdir()
    with HubServer(registry.HUB_REPO_ID, registry.HUB_REVISION) as hub:
        for spec, data in zip(registry.OFFICIAL_WEIGHTS.values(), payloads, strict=True):
            hub.add(spec.file, data, delay_per_chunk_s=0.001)  # slow enough to see the progress
        env: dict[str, str | None] = {"OCM_APP_MODEL": None, "OCM_WEIGHTS_DIR": None, "XDG_DATA_HOME": None}
        env.update(HOME=str(home), HF_ENDPOINT=hub.endpoint, OCM_TRUSTED_LOCAL="1", OMP_NUM_THREADS="1",
                   OCM_SAMPLES_DIR=str(tmp_path / "samples"), OCM_APP_TMP=str(tmp_path / "apptmp"))
        launcher = [sys.executable, str(REPO / "tests" / "app" / "official_hub_app.py"), str(payload_dir)]
        with app_server.serve(tmp_path / "streamlit.log", env=env, launcher=launcher, start_timeout_s=120) as app:
            browser: Any = _driver(*found)
            wait = WebDriverWait(browser, 120)
            try:
                browser.get(app.url)
                sidebar = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-testid=stSidebar]")))
                wait.until(ec.presence_of_element_located(
                    (By.XPATH, "//*[@data-testid='stSidebar']//*[contains(., 'ocm-studio-default')]")))
                button = wait.until(ec.element_to_be_clickable(
                    (By.XPATH, "//button[.//p[contains(text(), 'Get the official weights (58 MB)')]]")))
                sidebar.screenshot(str(shots / "sidebar_before.png"))
                button.click()
                from selenium.webdriver.common.action_chains import ActionChains

                ActionChains(browser).move_to_element_with_offset(sidebar, 5, 5).perform()  # away: no tooltip
                wait.until(ec.presence_of_element_located(
                    (By.CSS_SELECTOR, "[data-testid=stSidebar] [data-testid=stProgress]")))
                sidebar = browser.find_element(By.CSS_SELECTOR, "[data-testid=stSidebar]")
                sidebar.screenshot(str(shots / "sidebar_progress.png"))
                wait.until(ec.presence_of_element_located(
                    (By.XPATH, "//*[@data-testid='stSidebar']//*[contains(., 'OmniCloudMask v4 (official)')]")))
                wait.until(lambda b: not b.find_elements(
                    By.XPATH, "//button[.//p[contains(text(), 'Get the official weights')]]"))
                sidebar = browser.find_element(By.CSS_SELECTOR, "[data-testid=stSidebar]")
                sidebar.screenshot(str(shots / "sidebar_after.png"))
                text = browser.find_element(By.CSS_SELECTOR, "[data-testid=stSidebar]").text
                assert "92.4" in text and "this project's cache" in text
                cache = home / ".cache" / "ocm_studio" / "weights"
                pinned = sorted(s.file for s in registry.OFFICIAL_WEIGHTS.values())
                assert sorted(p.name for p in cache.iterdir()) == pinned
                assert len(hub.requests) == 2
            finally:
                browser.quit()
                if shots != tmp_path:  # screenshots kept elsewhere: keep the server's log beside them
                    shutil.copy(tmp_path / "streamlit.log", shots / "streamlit.log")


def _note() -> None:
    import streamlit as st

    from ocm_app import weights_panel

    weights_panel.default_run_note(st.session_state["model"])


@pytest.mark.parametrize(("model", "trusted", "expected"), [
    ("default (regnety_004, edgenext_small)", "1", "get them in the sidebar"),
    ("default (regnety_004, edgenext_small)", "", "ask the operator"),
    ("official-v4 (regnety_004, edgenext_small)", "1", None),
])
def test_a_default_run_notes_that_stronger_weights_exist(model: str, trusted: str, expected: str | None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.delenv("OCM_APP_MODEL", raising=False)
    monkeypatch.setenv("OCM_TRUSTED_LOCAL", trusted)
    at = AppTest.from_function(_note)
    at.session_state["model"] = model
    at.run()
    captions = [c.value for c in at.caption]
    if expected is None:
        assert not captions
    else:
        assert len(captions) == 1 and expected in captions[0] and "92.4" in captions[0]


def test_a_custom_weights_folder_is_named_never_located(tiny_weights_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``OCM_APP_MODEL``: the run caption, the report and the GeoTIFF tags name the folder, not the server path."""
    from ocm_app import resources

    monkeypatch.undo()  # the real get_ensemble, not the app tests' tiny stand-in
    monkeypatch.setenv("OCM_APP_MODEL", str(tiny_weights_dir))
    monkeypatch.setenv("OCM_BACKEND", "torch")
    ensemble = resources.get_ensemble("default", "cpu", "auto", "")
    assert ensemble.source == tiny_weights_dir.name
    assert str(tiny_weights_dir.parent) not in repr(ensemble.metadata) and len(ensemble.members) == 2
