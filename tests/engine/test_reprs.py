"""``Scene`` and ``Prediction`` print a short summary (and HTML for notebooks), never raw arrays."""

from __future__ import annotations

from typing import Any

from ocm_engine import predict_scene, read_scene


def test_scene_and_prediction_summaries(make_geotiff: Any, tiny_ensemble: Any) -> None:
    path = make_geotiff("s.tif", bands=4, height=64, width=96, res=20.0)
    scene = read_scene(path, sensor="generic_rgbn", resolution_m=20.0)
    text = repr(scene)
    assert text.startswith("<Scene s.tif: 96 x 64 px, EPSG:32633, 20 m>"), text
    assert "Red=" in text and "NIR=" in text and "band 4" in text
    assert "array(" not in text and len(text.splitlines()) <= 6
    page = scene._repr_html_()
    assert "<table" in page and "EPSG:32633" in page and "96 x 64 px" in page

    pred = predict_scene(scene, tiny_ensemble)
    text = repr(pred)
    assert text.startswith("<Prediction: 96 x 64 px, EPSG:32633, 20 m>"), text
    pct = pred.class_percentages
    assert f"clear {pct['clear']:.1f} %" in text and f"cloud {pred.cloud_percent:.1f} %" in text
    assert pred.model and pred.model in text and "array(" not in text
    page = pred._repr_html_()
    assert "thick cloud" in page and "rgb(240,228,66)" in page and pred.model in page
