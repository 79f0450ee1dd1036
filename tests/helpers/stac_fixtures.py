"""Pytest fixtures of the loopback STAC world (``pytest_plugins = ("tests.helpers.stac_fixtures",)``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.stac_corpus import Site, build_site
from tests.helpers.stac_server import StacServer


@pytest.fixture
def stac_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[StacServer]:
    """A started loopback server on its own port.

    GDAL keeps what ``/vsicurl/`` fetched per URL for the life of the process; an ephemeral port
    can come back in a later test, so caching across opens is turned off for http URLs here.
    """
    monkeypatch.setenv("CPL_VSIL_CURL_NON_CACHED", "/vsicurl/http")
    with StacServer() as server:
        yield server


@pytest.fixture
def stac_site(stac_server: StacServer, tmp_path: Path) -> Site:
    """The standard loopback STAC world (see :func:`build_site`)."""
    return build_site(stac_server, tmp_path / "cogs")
