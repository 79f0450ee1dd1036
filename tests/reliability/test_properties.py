"""Property-based tests (hypothesis) of tiling, normalisation and ``predict_array``.

Any shape >= 32 px and any nodata pattern: outputs keep the input's shape, probabilities
sum to 1 on valid pixels and are 0 on nodata, nodata stays nodata, windows cover the image.
Examples are few and small so the file runs in seconds on 2 shared cores.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocm_engine import InferenceOptions, predict_array, valid_mask, zscore_patch
from ocm_engine.normalize import zscore_batch
from ocm_engine.tiling import blend_weights, fit_patch, patch_windows

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(h=st.integers(32, 700), w=st.integers(32, 700), patch=st.integers(32, 1000),
       overlap=st.integers(0, 400))
def test_windows_cover_image(h: int, w: int, patch: int, overlap: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, o = fit_patch(h, w, patch, overlap)
    cover = np.zeros((h, w), np.int32)
    windows = patch_windows(h, w, p, o)
    for win in windows:
        assert 0 <= win.top and win.bottom <= h and 0 <= win.left and win.right <= w
        cover[win.slices] += 1
    assert cover.min() >= 1
    assert len(set(windows)) == len(windows)
    weights = blend_weights(p, o)
    assert weights.shape == (p, p) and bool((weights > 0).all())


@st.composite
def images(draw: Any, max_side: int = 72) -> tuple[np.ndarray, np.ndarray]:
    h = draw(st.integers(32, max_side))
    w = draw(st.integers(32, max_side))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    image = (rng.random((3, h, w)) * draw(st.sampled_from([1.0, 255.0, 1e4]))).astype(np.float32) + 1
    pattern = draw(st.sampled_from(["none", "random", "block", "stripes", "one_valid", "nan"]))
    nodata = np.zeros((h, w), bool)
    if pattern == "random":
        nodata = rng.random((h, w)) < draw(st.floats(0.0, 0.99))
    elif pattern == "block":
        nodata[: h // 2, : w // 3] = True
    elif pattern == "stripes":
        nodata[:, ::3] = True
    elif pattern == "one_valid":
        nodata[:] = True
        nodata[rng.integers(h), rng.integers(w)] = False
    image[:, nodata] = np.nan if pattern == "nan" else 0
    if pattern == "nan":
        nodata = np.zeros((h, w), bool)
        nodata[::2, ::2] = True
        image[0, nodata] = np.nan
    return image, nodata


@FAST
@given(data=images(200))
def test_zscore_properties(data: tuple[np.ndarray, np.ndarray]) -> None:
    image, nodata = data
    valid = valid_mask(image, 0)
    assert valid.shape == image.shape[1:]
    assert not valid[nodata].any()
    z = zscore_patch(image, 0)
    assert z.shape == image.shape and np.isfinite(z).all()
    assert (z[:, ~valid] == 0).all()
    zt = zscore_batch(torch.from_numpy(np.nan_to_num(image))[None], torch.from_numpy(valid)[None, None])
    assert torch.isfinite(zt).all()
    np.testing.assert_allclose(zt[0].numpy(), z, atol=2e-3)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=images(), patch=st.sampled_from([32, 48, 1000]), overlap=st.sampled_from([0, 8, 300]))
def test_predict_array_properties(data: tuple[np.ndarray, np.ndarray], patch: int, overlap: int,
                                  tiny_ensemble: Any) -> None:
    image, nodata = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = predict_array(image, nodata=0, ensemble=tiny_ensemble,
                             options=InferenceOptions(patch_px=patch, overlap_px=overlap))
    h, w = image.shape[1:]
    assert pred.classes.shape == (h, w) and pred.valid.shape == (h, w)
    assert pred.probabilities is not None and pred.probabilities.shape == (4, h, w)
    assert not pred.valid[nodata].any(), "nodata must stay nodata"
    assert (pred.classes[~pred.valid] == 0).all()
    probs = pred.probabilities
    assert np.isfinite(probs).all()
    np.testing.assert_allclose(probs[:, pred.valid].sum(axis=0), 1.0, atol=1e-4)
    assert (probs[:, ~pred.valid] == 0).all()
    assert set(np.unique(pred.classes).tolist()) <= {0, 1, 2, 3}
