"""The quick-look's mask is sampled while the blocks are written: no second read of the class file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from ocm_engine import InferenceOptions, pipeline
from ocm_engine.options import ReadOptions
from ocm_engine.outputs.quicklook import MaskSample
from ocm_engine.resolution import nearest_index


@pytest.mark.parametrize(("shape", "block"), [((300, 500), 128), ((64, 40), 1000), ((257, 129), 50)])
def test_sampling_block_by_block_equals_sampling_the_whole_map(shape: tuple[int, int], block: int) -> None:
    rng = np.random.default_rng(1)
    classes = rng.integers(0, 4, shape).astype(np.uint8)
    valid = rng.random(shape) > 0.2
    sample = MaskSample(*shape, max_px=100)
    for top in range(0, shape[0], block):
        for left in range(0, shape[1], block):
            rows, cols = slice(top, top + block), slice(left, left + block)
            sample.add(classes[rows, cols], valid[rows, cols], top, left)
    expected_shape = sample.classes.shape
    assert max(expected_shape) == min(100, max(shape))
    where = np.ix_(nearest_index(expected_shape[0], shape[0]), nearest_index(expected_shape[1], shape[1]))
    np.testing.assert_array_equal(sample.valid, valid[where])
    np.testing.assert_array_equal(sample.classes, np.where(valid[where], classes[where], 0))


def test_predict_file_draws_the_quicklook_without_reading_the_class_file_back(
        make_geotiff: Any, tiny_ensemble: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_geotiff("scene.tif", bands=4, height=160, width=200)
    opened: list[tuple[str, str]] = []
    real = rasterio.open

    def spy(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        opened.append((Path(str(path)).name, mode))
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(pipeline.rasterio, "open", spy)
    out = pipeline.predict_file(src, tmp_path / "out", read=ReadOptions(bands=(3, 2, 4)), ensemble=tiny_ensemble,
                                options=InferenceOptions(patch_px=64, overlap_px=16), png=True, block_px=96)
    assert out.paths.png is not None and out.paths.png.exists()
    assert any("_ocm" in name and mode == "w" for name, mode in opened), opened  # the class file, as written
    assert not [name for name, mode in opened if "_ocm" in name and mode == "r"], opened
