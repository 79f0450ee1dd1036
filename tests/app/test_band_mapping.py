"""The Run page's band mapping: a guessed order is shown beside the preview with one-click fixes,
and one rerun opens no raster file (one cached layout per scene answers every band question)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from conftest import new_app
from rasterio.transform import from_origin

from ocm_app import bands


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every ``rasterio.open`` call (the engine's only way into a file on disk), by path."""
    calls: list[str] = []
    real = rasterio.open

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(rasterio, "open", counting)
    yield calls


def _chip_bytes(descriptions: tuple[str, ...] = ()) -> bytes:
    """A 4-band chip stored Blue, Green, Red, NIR (like ../shared/data/scenes/s2_cloudy_chips)."""
    data = np.stack([np.full((96, 128), v, np.uint16) for v in (100, 200, 300, 400)])
    data[:, 20:40, 30:60] += 80
    profile = dict(driver="GTiff", width=128, height=96, count=4, dtype="uint16", nodata=0,
                   crs="EPSG:32633", transform=from_origin(500000, 4000000, 10, 10))
    with rasterio.MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data)
            for i, text in enumerate(descriptions, start=1):
                dst.set_band_description(i, text)
        return bytes(mem.read())


def _upload(data: bytes, name: str = "chip.tif") -> Any:
    at = new_app().run()
    at.radio(key="scene_source").set_value("Upload").run()
    at.file_uploader(key="scene_upload").set_value((name, data, "image/tiff")).run()
    assert not at.exception, at.exception
    return at


def _scene_key(at: Any) -> str:
    key = next(s.key for s in at.selectbox if s.key and s.key.startswith("run.sensor."))
    return str(key).removeprefix("run.sensor.")


def test_guessed_band_order_is_shown_with_a_one_click_fix(empty_samples: Path) -> None:
    at = _upload(_chip_bytes())
    assert not at.error, [e.value for e in at.error]
    notices = [w.value for w in at.warning if "Band order guessed" in w.value]
    assert notices and "R=band 1, G=band 2, NIR=band 4, B=band 3" in notices[0], [w.value for w in at.warning]
    fix = at.button(key="run.bands.use.sentinel2_4band")
    assert "Blue, Green, Red, NIR" in fix.label and "B02, B03, B04, B08" in fix.label
    keep = at.button(key="run.bands.use.generic_rgbn")  # the guessed R, G, B, NIR order, confirmed in one click
    assert keep.label.startswith("Keep the Red, Green, Blue, NIR order")
    fix.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    scene = _scene_key(at)
    assert at.selectbox(key=f"run.sensor.{scene}").value == "sentinel2_4band"
    assert not [w for w in at.warning if "Band order guessed" in w.value]
    captions = " ".join(c.value for c in at.caption)
    assert "Bands used: R=band 3, G=band 2, NIR=band 4, B=band 1 (from the sensor preset)" in captions
    at.button(key="run.button").click().run()
    assert not at.exception and at.metric
    assert not [w for w in at.warning if "Band order" in w.value], "the corrected run carries no guess warning"


@pytest.mark.slow
def test_band_descriptions_map_an_upload_without_a_notice(empty_samples: Path) -> None:
    at = _upload(_chip_bytes(("B02", "B03", "B04", "B08")))
    assert not at.error and not [w for w in at.warning if "Band order" in w.value]
    captions = " ".join(c.value for c in at.caption)
    assert "Bands used: R=band 3, G=band 2, NIR=band 4, B=band 1 (from the band descriptions)" in captions
    assert at.container(key=bands.NOTICE_KEY) is not None


@pytest.mark.slow
def test_a_guessed_run_says_so_beside_the_result(empty_samples: Path) -> None:
    at = _upload(_chip_bytes())
    at.button(key="run.button").click().run()
    assert not at.exception and at.metric
    assert any(w.value.startswith("Band order of chip.tif guessed") for w in at.warning), [w.value for w in at.warning]


def test_a_run_page_rerun_opens_no_raster_file(empty_samples: Path, opens: list[str]) -> None:
    """Issue 20: band labels, mapping, checks, scene facts and previews come from caches on a rerun."""
    at = new_app().run()
    assert not at.exception
    first = len(opens)
    opens.clear()
    at.run()
    assert not at.exception
    assert opens == [], opens
    # the same holds for a guessed upload, where the page also draws the notice and the hand mapping
    at.radio(key="scene_source").set_value("Upload").run()
    at.file_uploader(key="scene_upload").set_value(("chip.tif", _chip_bytes(), "image/tiff")).run()
    assert not at.exception
    upload_first = len(opens)
    opens.clear()
    at.run()
    assert opens == [], opens
    print(f"raster opens: builtin scene first run {first}, rerun 0; guessed upload first run {upload_first}, rerun 0")


def test_a_batch_qa_row_opens_its_scene_once(make_geotiff: Any, tiny_ensemble: Any, opens: list[str]) -> None:
    """Layout, inference read and thumbnail of a Batch QA row come from one opening of the file."""
    from ocm_app import batch, scenes
    from ocm_app.runs import RunOptions

    path = make_geotiff("qa.tif", bands=4, height=96, width=96)
    spec = scenes.upload_spec("upload:qa", [("qa.tif", path)], "sentinel2_4band")
    opens.clear()
    row = batch.qa_row(spec, RunOptions(patch_px=64, overlap_px=16), tiny_ensemble)
    assert not row.error, row.error
    assert row.thumbnail.startswith("data:image/png") and row.bands.startswith("R=")
    assert opens == [str(path)], opens
