"""The quick-look PNG is titled by the scene and the bands the model read, not by the first file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ocm_engine import pipeline
from ocm_engine.options import ReadOptions


def test_band_folder_quicklook_names_the_scene_not_the_thermal_band(make_geotiff: Any, tiny_ensemble: Any,
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A Landsat folder lists B10 (thermal, unused) first: the title used to be that file's name."""
    rng = np.random.default_rng(0)
    files = []
    for band in ("B10", "B11", "B2", "B3", "B4", "B5"):  # sorted as a shell glob lists them
        data = (rng.random((1, 64, 64)) * 3000 + 500).astype(np.uint16)
        files.append(make_geotiff(f"ls/LC80130312015295LGN00_{band}_toa.tif", data=data, res=30.0))
    titles: list[str] = []
    real = pipeline.write_png

    def spy(*args: Any, **kwargs: Any) -> Any:
        titles.append(kwargs.get("title", ""))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "write_png", spy)
    pipeline.predict_file(files, tmp_path / "out", read=ReadOptions(sensor="landsat8_9_oli"), ensemble=tiny_ensemble,
                          png=True)
    assert titles == ["LC80130312015295LGN00 (Red B4, Green B3, NIR B5)"], titles
    assert "B10" not in titles[0]
