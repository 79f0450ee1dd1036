"""Pytest fixtures of the loopback STAC world (``pytest_plugins = ("tests.stac_fixtures",)``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stac_corpus import Site, build_site
from tests.stac_server import StacServer


@pytest.fixture
def stac_server() -> Iterator[StacServer]:
    """A started loopback server (its own port per test, so GDAL's URL caches never mix tests)."""
    with StacServer() as server:
        yield server


@pytest.fixture
def stac_site(stac_server: StacServer, tmp_path: Path) -> Site:
    """The standard loopback STAC world (see :func:`build_site`)."""
    return build_site(stac_server, tmp_path / "cogs")
