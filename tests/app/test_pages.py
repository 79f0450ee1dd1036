"""AppTest suites: every page drives a real (tiny-model) run and shows its result elements."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import new_app

from ocm_app.samples import BUILTIN_VERSION
from ocm_engine.errors import ModelLoadError


def start(page: str | None = None) -> Any:
    at = new_app().run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(f"app_pages/{page}.py").run()
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
    assert len(at.get("iframe")) == 3, "map, image | mask swipe, experts | model swipe"
    assert any("backend torch" in c.value for c in at.caption), "the run facts name what ran the members"
    assert list(frame(at, "percent of valid pixels")["class"])[-1] == "Cloud shadow"
    keys = {b.key for b in at.get("download_button")}
    assert keys == {"dl.classes", "dl.probabilities", "dl.png", "dl.json"}


def iframes(at: Any) -> list[str]:
    return [f.proto.srcdoc for f in at.get("iframe")]


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_run_page_maps_survive_a_rerun(empty_samples: Path) -> None:
    at = start()
    at.button(key="run.button").click().run()
    no_errors(at)
    before = iframes(at)
    assert len(before) == 3, "map, image | mask swipe, experts | model swipe"
    for html in before:
        assert "fitBounds(bounds" in html and "sessionStorage" in html  # opens fitted, remembers the view
    assert "ocm-opacity" in before[0], "opacity is a control inside the map, not a page widget (no rerun)"
    assert not [w for w in at.slider if "opacity" in w.label.lower()], "no page widget rebuilds the map for opacity"
    assert [c.key for c in at.checkbox] == ["run.tta"], "no page widget rebuilds the map for layers"
    # an unrelated widget change reruns the page: the maps come back byte-identical (the browser keeps them)
    at.number_input(key="run.batch").set_value(2).run()
    no_errors(at)
    assert iframes(at) == before


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_run_page_test_time_augmentation(empty_samples: Path) -> None:
    at = start()
    at.number_input(key="run.patch").set_value(128)
    at.number_input(key="run.overlap").set_value(32)
    at.checkbox(key="run.tta").check().run()
    at.button(key="run.button").click().run()
    no_errors(at)
    assert any("test-time augmentation over 8 flips/rotations" in c.value for c in at.caption)
    assert at.session_state["ocm.run_result"].options.tta
    at.checkbox(key="run.tta").uncheck().run()
    at.button(key="run.button").click().run()
    assert not any("test-time augmentation" in c.value for c in at.caption)


def test_run_page_manual_mapping_without_nir(empty_samples: Path) -> None:
    at = start()
    at.selectbox(key="run.sensor.builtin:synthetic").set_value("manual").run()
    nir = at.selectbox(key="run.NIR.builtin:synthetic")
    nir.select_index(len(nir.options) - 1).run()  # "none"
    no_errors(at)
    at.button(key="run.button").click().run()
    no_errors(at)
    # the Scene's typed MissingNirWarning from read_scene, passed through (the app writes no copy of its own)
    expected = f"No NIR band mapped for synthetic_clouds_v{BUILTIN_VERSION}.tif: using zeros"
    assert any(w.value.startswith(expected) for w in at.warning), [w.value for w in at.warning]
    assert at.metric


def test_model_load_error_is_shown(empty_samples: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ocm_app import resources

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ModelLoadError("Default model", arrived="no weights in this installation",
                             expected="ocm_engine/weights/ensemble.json and its members")

    monkeypatch.setattr(resources, "get_ensemble", broken)
    at = start()
    at.button(key="run.button").click().run()
    assert not at.exception
    shown = [e.value for e in at.error]
    assert any("Default model: got no weights in this installation" in e for e in shown), shown
    assert not at.metric


def test_bad_upload_shows_engine_error(empty_samples: Path) -> None:
    at = start()
    at.radio(key="scene_source").set_value("Upload").run()
    at.file_uploader(key="scene_upload").set_value(("../../etc/passwd.tif", b"not a tiff", "image/tiff")).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("Upload ../../etc/passwd.tif: got a file that does not open as a raster")
               for e in errors), errors
    assert not any("upload_" in e or "ocm_studio" in e for e in errors), "no internal temp paths"


def test_upload_errors_speak_the_apps_language(empty_samples: Path, geotiff_bytes: Any) -> None:
    at = start()
    at.radio(key="scene_source").set_value("Upload").run()
    files = [("red_band.tif", geotiff_bytes(bands=1), "image/tiff"),
             ("green_band.tif", geotiff_bytes(bands=1, height=64, width=64), "image/tiff")]
    at.file_uploader(key="scene_upload").set_value(files).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors and any("green_band.tif" in e or "red_band.tif" in e for e in errors), errors
    assert not any("--" in e or "upload_" in e or "ocm_studio" in e for e in errors), errors


def test_two_band_upload_gets_a_mapping_and_the_engines_warning(empty_samples: Path, geotiff_bytes: Any) -> None:
    at = start()
    at.radio(key="scene_source").set_value("Upload").run()
    at.file_uploader(key="scene_upload").set_value(("two_bands.tif", geotiff_bytes(bands=2), "image/tiff")).run()
    no_errors(at)
    at.button(key="run.button").click().run()
    no_errors(at)
    assert any(w.value.startswith("No NIR band mapped") for w in at.warning)


def test_one_file_per_band_upload_gets_a_band_mapping(empty_samples: Path, geotiff_bytes: Any) -> None:
    at = start()
    at.radio(key="scene_source").set_value("Upload").run()
    files = [(f"T33_{band}.tif", geotiff_bytes(bands=1), "image/tiff") for band in ("B02", "B03", "B04", "B08")]
    at.file_uploader(key="scene_upload").set_value(files).run()
    no_errors(at)
    key = next(s.key for s in at.selectbox if s.key and s.key.startswith("run.Red."))
    scene = key.removeprefix("run.Red.")
    assert at.selectbox(key=f"run.sensor.{scene}").value == "manual"
    assert "T33_B04.tif" in at.selectbox(key=f"run.Red.{scene}").format_func(at.selectbox(key=key).value)
    assert "T33_B08.tif" in at.selectbox(key=f"run.NIR.{scene}").format_func(
        at.selectbox(key=f"run.NIR.{scene}").value)
    # every role is named in the file names: the notice beside the preview says so, with no guess warning
    notice = " ".join(c.value for c in at.caption)
    assert "Bands used: R=file 3, G=file 2, NIR=file 4, B=file 1 (from the file names)" in notice
    at.button(key="run.button").click().run()
    no_errors(at)
    assert at.metric


def test_accuracy_view_of_the_demo_scene(empty_samples: Path) -> None:
    at = start()
    at.button(key="run.button").click().run()
    no_errors(at)
    assert any(h.value == "Accuracy against the experts" for h in at.subheader)
    assert any("Exact truth of the synthetic clouds" in m.value for m in at.markdown)
    labels = [m.label for m in at.metric]
    assert {"Pixels right", "Balanced accuracy", "F1 thick cloud", "F1 cloud shadow"} <= set(labels)
    confusion = frame(at, "experts say")
    assert list(confusion["experts say"]) == ["clear", "thick cloud", "thin cloud", "cloud shadow"]
    scores = frame(at, "F1")
    assert list(scores["class"]) == ["clear", "thick cloud", "thin cloud", "cloud shadow"]
    assert "Experts" in iframes(at)[0] and "Swipe: experts | model" in [t.label for t in at.tabs]


@pytest.mark.slow
def test_accuracy_view_explains_on_cloud_n(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCM_SAMPLES_DIR", str(shared_data))
    at = start()
    at.selectbox(key="scene_sample").set_value("sample:labeled/oncloudn/chip_id_4").run()
    at.number_input(key="run.patch").set_value(256)
    at.number_input(key="run.overlap").set_value(32)
    at.button(key="run.button").click().run()
    no_errors(at)
    assert any("no shadow class" in m.value for m in at.markdown)
    assert list(frame(at, "experts say")["experts say"]) == ["not cloud", "cloud"]
    assert not any("trained on" in w.value for w in at.warning), "chip 4 is held out"
    at.selectbox(key="scene_sample").set_value("sample:labeled/oncloudn/chip_id_1").run()
    assert any("trained on this scene" in w.value for w in at.warning), "chip 1 was used for training"


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


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_two_sessions_do_not_share_results(empty_samples: Path) -> None:
    first, second = start(), start()
    first.button(key="run.button").click().run()
    second.run()
    assert first.metric and not second.metric


@pytest.mark.slow
def test_lab_page(empty_samples: Path) -> None:
    at = start("lab")
    no_errors(at)
    assert at.select_slider(key="lab.size").value == 256
    labels = [m.label for m in at.metric]
    assert labels[:2] == ["Dynamic z-score: DN = reflectance", "Dynamic z-score: all three"]
    assert at.metric[0].value == "100 %" and float(at.metric[3].value.split()[0]) < 5
    assert not any("e-" in m.value for m in at.metric)
    assert at.get("latex"), "the z-score formula"
    assert len(at.get("iframe")) == 1, "raw and z-scored patch as map layers"
    # issue 17 item 10: what per-patch statistics cost, through the normalized values
    assert any("What per-patch statistics cost" in h.value for h in at.subheader)
    assert any("B minus A" in m.label for m in at.metric) and any(m.label == "Amplification" for m in at.metric)
    at.select_slider(key="lab.size").set_value(64)
    at.slider(key="lab.patch.across").set_value(20)
    at.radio(key="lab.product").set_value("8-bit (uint8)").run()
    no_errors(at)
    assert len(at.get("imgs")) or len(at.get("image"))


def test_resolution_page(empty_samples: Path) -> None:
    at = start("resolution")
    choice = at.multiselect(key="res.choice.builtin:synthetic")
    assert choice.value == [20.0, 30.0, 50.0] or len(choice.value) >= 2, "several resolutions by default"
    choice.set_value([]).run()
    at.button(key="res.button").click().run()
    assert any("Choose at least one resolution" in w.value for w in at.warning), "an empty choice says why"
    at.multiselect(key="res.choice.builtin:synthetic").set_value([20.0, 40.0]).run()
    at.button(key="res.button").click().run()
    no_errors(at)
    table = frame(at, "pixel agreement %")
    assert list(table["resolution"]) == ["20 m", "40 m"]
    assert table["pixel agreement %"].iloc[0] == 100.0


def test_compare_page(empty_samples: Path) -> None:
    at = start("compare")
    at.button(key="cmp.button").click().run()
    no_errors(at)
    labels = [m.label for m in at.metric]
    assert labels[:2] == ["Members disagree", "Uncertain pixels (entropy > 0.5)"]
    assert "bits" in at.metric[2].value
    assert len(at.get("iframe")) == 1
    assert "Hotspots" in iframes(at)[0] and "#5" in iframes(at)[0], "hotspots drawn on the map"
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
    assert not at.error
    assert at.get("download_button")[0].key == "batch.csv"


def test_batch_uploads(empty_samples: Path, geotiff_bytes: Any) -> None:
    at = start("batch")
    at.radio(key="batch.source").set_value("Uploads").run()
    at.file_uploader(key="batch.uploads").set_value(
        [("a.tif", geotiff_bytes(), "image/tiff"), ("b.tif", b"broken", "image/tiff")]).run()
    at.button(key="batch.button").click().run()
    assert not at.exception
    table = frame(at, "cloud %")
    assert list(table["scene"]) == ["a.tif"] and "error" not in table.columns  # no row of 'None' cells
    assert any("could not be processed" in e.value and "**b.tif**: Upload b.tif: got a file that does" in e.value
               for e in at.error), [e.value for e in at.error]


@pytest.mark.slow
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
