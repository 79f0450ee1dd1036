"""The app's third scene source (STAC catalog), driven by widget keys against the loopback catalog."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ocm_app import stac_source
from tests.app.conftest import new_app
from tests.helpers.stac_corpus import Site

pytest_plugins = ("tests.helpers.stac_fixtures",)

JUNE = (dt.date(2024, 6, 1), dt.date(2024, 6, 30))


@pytest.fixture(autouse=True)
def allow_loopback_catalog(monkeypatch: pytest.MonkeyPatch, stac_server: Any) -> None:
    """The app refuses loopback by default; these tests allow their catalog's origin only."""
    monkeypatch.setenv("OCM_ALLOWED_ORIGINS", stac_server.root)


def _search(stac_site: Site, place: str, max_cloud: int = 50) -> Any:
    at = new_app().run()
    at.switch_page("app_pages/run.py").run()
    at.radio(key="scene_source").set_value(stac_source.LABEL).run()
    assert not at.exception
    at.text_input(key=stac_source.CATALOG).set_value(stac_site.api_url)
    at.text_input(key=stac_source.PLACE).set_value(place)
    at.date_input(key=stac_source.DATES).set_value(JUNE)
    at.slider(key=stac_source.MAX_CLOUD).set_value(max_cloud)
    at.button(key=stac_source.SEARCH).click().run()
    assert not at.exception
    return at


def _place(stac_site: Site) -> str:
    return ",".join(f"{v:.6f}" for v in stac_site.window(0.8))


def test_search_pick_read_and_run(stac_site: Site) -> None:
    at = _search(stac_site, _place(stac_site))
    options = at.radio(key=stac_source.ITEM).options
    assert options[0].startswith("S2A_GOOD · 2024-06-15 · cloud 20 %") and not any("CLOUDY" in o for o in options)
    assert len(at.get("imgs")) + len(at.get("image")) >= 1, [c.value for c in at.caption]  # S2A_GOOD thumbnail
    assert any("no thumbnail" in c.value for c in at.caption)  # items without one say so
    at.radio(key=stac_source.ITEM).set_value("S2A_GOOD")
    at.button(key=stac_source.LOAD).click().run()
    assert not at.exception and not at.error
    # the Run page now works on the window: band mapping, preview, run, result
    at.button(key="run.button").click().run()
    assert not at.exception and not at.error
    assert any(m.label == "Cloud" for m in at.metric)


def test_a_point_and_a_window_size(stac_site: Site) -> None:
    west, south, east, north = stac_site.bbox
    at = _search(stac_site, f"{(west + east) / 2:.6f},{(south + north) / 2:.6f}", max_cloud=100)
    assert any(o.startswith("S2B_CLOUDY") for o in at.radio(key=stac_source.ITEM).options)


@pytest.mark.parametrize(("item", "message"), [("S2A_NO_NIR", "no asset for nir"),
                                               pytest.param("S2A_MISSING", "404", marks=pytest.mark.slow)])
def test_bad_items_show_a_message_and_the_app_keeps_serving(stac_site: Site, item: str, message: str) -> None:
    at = _search(stac_site, _place(stac_site))
    at.radio(key=stac_source.ITEM).set_value(item)
    at.button(key=stac_source.LOAD).click().run()
    assert not at.exception
    assert any(message in e.value for e in at.error)
    at.radio(key=stac_source.ITEM).set_value("S2A_GOOD")
    at.button(key=stac_source.LOAD).click().run()
    assert not at.exception and not at.error


def test_non_cog_item_reads_and_warns(stac_site: Site) -> None:
    at = _search(stac_site, _place(stac_site))
    at.radio(key=stac_source.ITEM).set_value("S2A_PLAIN")
    at.button(key=stac_source.LOAD).click().run()
    assert not at.exception and not at.error
    assert any("not cloud-optimised" in w.value for w in at.warning)


def test_catalog_errors_and_bad_places(stac_server: Any) -> None:
    url = stac_server.add_bytes("/broken", b"{nope", "application/json")
    at = new_app().run()
    at.switch_page("app_pages/run.py").run()
    at.radio(key="scene_source").set_value(stac_source.LABEL).run()
    at.text_input(key=stac_source.CATALOG).set_value(url)
    at.button(key=stac_source.SEARCH).click().run()
    assert not at.exception and at.error
    at.text_input(key=stac_source.PLACE).set_value("somewhere nice")
    at.button(key=stac_source.SEARCH).click().run()
    assert not at.exception and any("lon,lat" in e.value for e in at.error)


def test_unreachable_thumbnail_does_not_break_the_list(stac_site: Site) -> None:
    stac_site.server.add_status("/data/good/thumb.png", 404)
    at = _search(stac_site, _place(stac_site))
    assert not at.exception
    assert at.radio(key=stac_source.ITEM).options[0].startswith("S2A_GOOD")


def test_parse_place() -> None:
    _, south, _, north = stac_source.parse_place("13.4,52.5", 2.0)
    assert 0.017 < north - south < 0.019
    assert stac_source.parse_place("13,52,13.1,52.1", 2.0) == (13.0, 52.0, 13.1, 52.1)
    with pytest.raises(ValueError, match="lon,lat"):
        stac_source.parse_place("13", 2.0)
