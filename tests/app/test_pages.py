"""AppTest suites: every page drives a real (tiny-model) run and shows its result elements."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import new_app

from ocm_engine.errors import ModelLoadError


def start(page: str | None = None) -> Any:
    at = new_app().run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, at.exception
    return at


def frame(at: Any, column: str) -> Any:
    """The first dataframe shown with ``column`` (dataframes carry no key without selections)."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no dataframe with a {column!r} column")


def no_errors(at: Any) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_run_page_end_to_end(empty_samples: Path) -> None:
    at = start()
    assert at.selectbox(key="scene_sample").value == "builtin:synthetic"
    assert at.selectbox(key="run.sensor.builtin:synthetic").value == "generic_rgn"
    assert len(at.get("imgs")) >= 1 or at.get("image"), "band preview images"
    at.number_input(key="run.patch").set_value(128)
    at.number_input(key="run.overlap").set_value(32)
    at.button(key="run.button").click().run()
    no_errors(at)
    labels = [m.label for m in at.metric]
    assert labels[:5] == ["Cloud", "Thick cloud", "Thin cloud", "Cloud shadow", "Clear"]
    assert len(at.get("iframe")) == 2, "map and swipe view"
    assert list(frame(at, "percent of valid pixels")["class"])[-1] == "Cloud shadow"
    keys = {b.key for b in at.get("download_button")}
    assert keys == {"dl.classes", "dl.probabilities", "dl.png", "dl.json"}
    # opacity change re-renders the map from the stored result (no rerun of the model)
    at.slider(key="run.opacity").set_value(0.3).run()
    no_errors(at)
    assert len(at.get("iframe")) == 2


def test_run_page_manual_mapping_without_nir(empty_samples: Path) -> None:
    at = start()
    at.selectbox(key="run.sensor.builtin:synthetic").set_value("manual").run()
    nir = at.selectbox(key="run.NIR.builtin:synthetic")
    nir.select_index(len(nir.options) - 1).run()  # "none"
    no_errors(at)
    at.button(key="run.button").click().run()
    no_errors(at)
    assert any("NIR" in w.value for w in at.warning), "missing-NIR warning from the engine"
    assert at.metric


def test_model_load_error_is_shown(empty_samples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ocm_app import resources

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ModelLoadError("No default model is packaged in this installation.")

    monkeypatch.setattr(resources, "get_ensemble", broken)
    at = start()
    at.button(key="run.button").click().run()
    assert not at.exception
    assert any("No default model" in e.value for e in at.error)
    assert not at.metric


def test_bad_upload_shows_engine_error(empty_samples: Path) -> None:
    at = start()
    at.radio(key="scene_source").set_value("Upload").run()
    at.file_uploader(key="scene_upload").set_value(("../../etc/passwd.tif", b"not a tiff", "image/tiff")).run()
    assert not at.exception
    assert any("Could not open" in e.value for e in at.error), [e.value for e in at.error]


def test_multiband_upload_runs(empty_samples: Path, geotiff_bytes: Any, tmp_path: Path) -> None:
    at = start()
    at.radio(key="scene_source").set_value("Upload").run()
    at.file_uploader(key="scene_upload").set_value(("my scene.tif", geotiff_bytes(), "image/tiff")).run()
    no_errors(at)
    at.button(key="run.button").click().run()
    no_errors(at)
    assert len(at.get("iframe")) == 2
    # the user's name is shown, never used as a path
    saved = list((Path(tmp_path).parents[1]).rglob("my scene.tif"))
    assert not saved


def test_two_sessions_do_not_share_results(empty_samples: Path) -> None:
    first, second = start(), start()
    first.button(key="run.button").click().run()
    second.run()
    assert first.metric and not second.metric


def test_lab_page(empty_samples: Path) -> None:
    at = start("lab")
    no_errors(at)
    assert at.select_slider(key="lab.size").value == 256
    assert len(at.metric) == 2
    at.select_slider(key="lab.size").set_value(64)
    at.slider(key="lab.patch.across").set_value(20)
    at.radio(key="lab.product").set_value("8-bit (uint8)").run()
    no_errors(at)
    assert len(at.get("imgs")) or len(at.get("image"))


def test_resolution_page(empty_samples: Path) -> None:
    at = start("resolution")
    at.multiselect(key="res.choice").set_value([20.0, 40.0]).run()
    at.button(key="res.button").click().run()
    no_errors(at)
    table = frame(at, "pixel agreement %")
    assert list(table["resolution"]) == ["20 m", "40 m"]
    assert table["pixel agreement %"].iloc[0] == 100.0


def test_compare_page(empty_samples: Path) -> None:
    at = start("compare")
    at.button(key="cmp.button").click().run()
    no_errors(at)
    assert next(m.label for m in at.metric) == "Members disagree"
    assert len(at.get("iframe")) == 1
    assert len(frame(at, "mean entropy")) == 5


def test_batch_page_with_a_bad_file(empty_samples: Path, make_geotiff: Any) -> None:
    good = make_geotiff("good.tif")
    (empty_samples / "scenes").mkdir()
    good.rename(empty_samples / "scenes" / "good.tif")
    (empty_samples / "scenes" / "broken.tif").write_bytes(b"II*\x00garbage")
    at = start("batch")
    at.button(key="batch.button").click().run()
    assert not at.exception
    table = frame(at, "cloud %")
    assert len(table) == 2  # built-in + good.tif (broken.tif is not listed: unreadable)
    assert (table["error"] == "").all()
    assert at.get("download_button")[0].key == "batch.csv"


def test_batch_uploads(empty_samples: Path, geotiff_bytes: Any) -> None:
    at = start("batch")
    at.radio(key="batch.source").set_value("Uploads").run()
    at.file_uploader(key="batch.uploads").set_value(
        [("a.tif", geotiff_bytes(), "image/tiff"), ("b.tif", b"broken", "image/tiff")]).run()
    at.button(key="batch.button").click().run()
    assert not at.exception
    table = frame(at, "cloud %")
    assert len(table) == 2
    assert table["error"].iloc[0] == "" and "Could not open" in table["error"].iloc[1]
    assert any("could not be processed" in e.value for e in at.error)


def test_real_samples_in_gallery(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCM_SAMPLES_DIR", str(shared_data))
    at = start()
    options = at.selectbox(key="scene_sample").options
    assert any("Landsat 8" in o for o in options) and any("Sentinel-2" in o for o in options)
    at.selectbox(key="scene_sample").set_value("sample:scenes/landsat8_long_island").run()
    no_errors(at)
    assert any("120 m" in w.value for w in at.warning), "coarser-than-50 m notice"
    at.button(key="run.button").click().run()
    no_errors(at)
    assert len(at.get("iframe")) == 2
