from __future__ import annotations

import numpy as np
import pytest

from ocm_engine import Prediction, predict_array
from ocm_engine.errors import (
    BandMismatchError,
    ImageTooSmallError,
    InvalidImageError,
    MissingNirWarning,
    NoValidDataError,
    OcmError,
)
from tests.conftest import synthetic_scene


def test_prediction_shapes_and_probabilities(tiny_ensemble) -> None:
    img = synthetic_scene(4, 90, 120)
    img[:, :10, :] = 0
    pred = predict_array(img, bands=(0, 1, 3), ensemble=tiny_ensemble, patch_px=64, overlap_px=16)
    assert isinstance(pred, Prediction)
    assert pred.classes.shape == (90, 120) and pred.classes.dtype == np.uint8
    assert pred.probabilities is not None and pred.probabilities.shape == (4, 90, 120)
    assert pred.probabilities.dtype == np.float32
    np.testing.assert_allclose(pred.probabilities[:, pred.valid].sum(axis=0), 1, atol=1e-5)
    assert not pred.valid[:10].any() and pred.valid[10:].all()
    assert (pred.probabilities[:, :10] == 0).all() and (pred.classes[:10] == 0).all()
    assert abs(sum(pred.class_percentages.values()) - 100) < 1e-6
    np.testing.assert_allclose(pred.nodata_percent, 100 * 10 / 90)
    # argmax of the probabilities is the class map
    assert (pred.probabilities.argmax(0)[pred.valid] == pred.classes[pred.valid]).mean() > 0.999


def test_same_scene_in_different_value_ranges_gives_same_mask(tiny_ensemble) -> None:
    refl = synthetic_scene(3, 80, 80, "float32")
    dn = (refl * 10000 + 1000).astype(np.uint16)
    a = predict_array(refl, ensemble=tiny_ensemble, patch_px=80)
    b = predict_array(dn, ensemble=tiny_ensemble, patch_px=80)
    assert (a.classes == b.classes).mean() > 0.99


def test_progress_callback_and_no_probabilities(tiny_ensemble) -> None:
    calls: list[tuple[int, int]] = []
    pred = predict_array(synthetic_scene(3, 100, 100), ensemble=tiny_ensemble, patch_px=48, overlap_px=12,
                         batch_size=3, progress_callback=lambda d, t: calls.append((d, t)),
                         return_probabilities=False)
    assert pred.probabilities is None
    assert calls[-1][0] == calls[-1][1] and len(calls) >= 2


def test_missing_nir_warns_and_runs(tiny_ensemble) -> None:
    with pytest.warns(MissingNirWarning):
        pred = predict_array(synthetic_scene(3, 64, 64), bands=(0, 1, None), ensemble=tiny_ensemble)
    assert pred.classes.shape == (64, 64)


@pytest.mark.parametrize(
    ("image", "kwargs", "error", "text"),
    [
        (np.zeros((3, 64, 64), np.uint16), {}, NoValidDataError, "nodata"),
        (np.full((3, 64, 64), np.nan, np.float32), {}, NoValidDataError, "nodata"),
        (np.ones((3, 20, 64), np.uint16), {}, ImageTooSmallError, "32"),
        (np.ones((64, 64), np.uint16), {}, InvalidImageError, "bands, height, width"),
        (np.ones((3, 64, 64), np.complex64), {}, InvalidImageError, "complex"),
        (np.ones((2, 64, 64), np.uint16), {}, BandMismatchError, "2 band"),
        (np.ones((4, 64, 64), np.uint16), {"bands": (0, 1)}, BandMismatchError, "3 band indices"),
        ([[1, 2]], {}, InvalidImageError, "numpy array"),
    ],
)
def test_bad_input_errors(tiny_ensemble, image, kwargs, error, text) -> None:
    with pytest.raises(error, match=text) as info:
        predict_array(image, ensemble=tiny_ensemble, **kwargs)
    assert isinstance(info.value, OcmError)
