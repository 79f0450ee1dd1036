"""The app's JSON download is the engine's report: one schema for ``ocm predict``, STAC, batch and the app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ocm_app.runs import RunOptions, export_bytes, run_prediction
from ocm_app.scenes import SceneSpec, read_inference
from ocm_engine import BandMapping, InferenceOptions, predict_file
from ocm_engine.options import ReadOptions


def _keys(node: object) -> object:
    """The shape of a JSON document: its keys, recursively (values dropped)."""
    if isinstance(node, dict):
        return {k: _keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_keys(v) for v in node[:1]]
    return None


def test_app_download_has_the_engine_report_schema(make_geotiff: Any, tiny_ensemble: Any, tmp_path: Path) -> None:
    src = make_geotiff()
    mapping = BandMapping(red=1, green=2, nir=4)
    spec = SceneSpec("t:scene", "scene", (str(src),), ("scene.tif",), mapping=mapping)
    options = RunOptions(patch_px=64, overlap_px=16)
    result = run_prediction(spec, options, tiny_ensemble, read_inference(spec, options.resolution_m), None,
                            options.inference())
    app = json.loads(export_bytes(result, tmp_path)["stats.json"])
    engine = json.loads(predict_file(src, tmp_path / "out", read=ReadOptions(bands=mapping), ensemble=tiny_ensemble,
                                     options=InferenceOptions(patch_px=64, overlap_px=16)).paths.stats.read_text())
    assert _keys(app) == _keys(engine)
    assert app["statistics"] == engine["statistics"]  # same scene, models and options: same numbers
    assert app["run"]["software"] == "ocm_studio app" and engine["run"]["software"] == "ocm_engine"
    assert app["run"]["patch_px"] == engine["run"]["patch_px"] == 64  # numbers, in both
    assert app["provenance"]["bands"] == engine["provenance"]["bands"]
    assert app["outputs"][0].endswith("_ocm_classes.tif")
