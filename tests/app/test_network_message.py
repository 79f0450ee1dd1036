"""A catalog that cannot be reached reads as a sentence in the app, without urllib3's internals."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from ocm_app import stac_source
from tests.app.conftest import new_app


@pytest.mark.slow
def test_refused_catalog_is_worded(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    root = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("OCM_ALLOWED_ORIGINS", root)
    at = new_app().run()
    at.switch_page("app_pages/run.py").run()
    at.radio(key="scene_source").set_value(stac_source.LABEL).run()
    at.text_input(key=stac_source.CATALOG).set_value(f"{root}/api")
    at.text_input(key=stac_source.PLACE).set_value("13.3,52.4,13.5,52.6")
    at.date_input(key=stac_source.DATES).set_value((dt.date(2024, 6, 1), dt.date(2024, 6, 30)))
    at.button(key=stac_source.SEARCH).click().run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert shown.startswith(f"Catalog {root}/api: got a refused connection") and f"127.0.0.1:{port}" in shown, shown
    for internal in ("HTTPConnectionPool", "Max retries", "Caused by", "urllib3", "NewConnectionError", "[Errno"):
        assert internal not in shown, shown
