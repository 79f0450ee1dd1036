"""The Streamlit-free map builder: one call on a prediction Dataset gives the app's map for a notebook."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import rioxarray  # noqa: F401
import xarray as xr

from ocm_app import mapbuilder
from ocm_engine import InferenceOptions
from ocm_engine.xarray_io import predict_dataarray
from tests.conftest import synthetic_scene


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_builder_imports_no_streamlit() -> None:
    code = "import sys, ocm_app.mapbuilder, ocm_engine.xarray_io; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _prediction(tiny_ensemble: Any) -> tuple[xr.Dataset, xr.DataArray]:
    data = synthetic_scene(4, 80, 96)
    da = xr.DataArray(data, dims=("band", "y", "x"), coords={
        "band": ["red", "green", "blue", "nir"], "y": 4_000_000 - 5 - 10 * np.arange(80),
        "x": 500_005 + 10 * np.arange(96)}).rio.write_crs("EPSG:32633")
    ds = predict_dataarray(da, ensemble=tiny_ensemble, options=InferenceOptions(patch_px=64, overlap_px=16),
                           probabilities=True)
    return ds, da


def test_show_builds_the_apps_map(tiny_ensemble: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ds, da = _prediction(tiny_ensemble)
    shown = mapbuilder.show(ds, da)
    assert len(shown.maps) == 2  # layered map + swipe
    names = shown.maps[0].layer_names
    assert names[:3] == ["True colour", "False colour (NIR, Red, Green)", "Class mask"]
    assert [n for n in names if n.startswith("P(")] == ["P(clear)", "P(thick cloud)", "P(thin cloud)",
                                                        "P(cloud shadow)"]
    html = shown._repr_html_()
    if shown.offline:
        assert mapbuilder.external_urls(shown.maps[0].html) == []
        assert mapbuilder.CDN_NOTICE not in html
    assert "srcdoc=" in html and "Mask opacity" in shown.maps[0].html
    monkeypatch.setattr(mapbuilder, "leaflet_assets", lambda: None)
    fallback = mapbuilder.show(ds, da, swipe=False, probabilities=False)
    assert not fallback.offline and len(fallback.maps) == 1
    assert mapbuilder.CDN_NOTICE in fallback._repr_html_()


def test_show_refuses_a_time_cube(tiny_ensemble: Any) -> None:
    ds, _ = _prediction(tiny_ensemble)
    with pytest.raises(ValueError, match="isel"):
        mapbuilder.show(ds.expand_dims(time=2))
