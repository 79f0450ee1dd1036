from __future__ import annotations

import numpy as np
import torch

from ocm_engine import valid_mask, zscore_patch
from ocm_engine.normalize import zscore_batch


def test_valid_mask_needs_all_bands_nodata_and_nan_always() -> None:
    img = np.ones((3, 2, 3), dtype=np.float32)
    img[:, 0, 0] = 0  # all bands nodata
    img[0, 0, 1] = 0  # only one band zero: still valid
    img[1, 1, 2] = np.nan  # NaN in one band: nodata
    valid = valid_mask(img, 0)
    assert valid.tolist() == [[False, True, True], [True, True, False]]
    assert valid_mask(img, None)[0, 0]


def test_zscore_uses_only_valid_pixels_and_zeroes_nodata() -> None:
    img = np.zeros((2, 4, 4), dtype=np.uint16)
    img[0, :2] = 100
    img[0, 2:] = 300
    img[1] = 50
    img[1, 0, 0] = 70
    img[:, 3, 3] = 0  # nodata pixel
    out = zscore_patch(img, nodata=0)
    valid = valid_mask(img, 0)
    assert out.dtype == np.float32
    assert out[:, 3, 3].tolist() == [0.0, 0.0]
    band0 = out[0][valid]
    np.testing.assert_allclose(band0.mean(), 0, atol=1e-6)
    np.testing.assert_allclose(band0.std(), 1, atol=1e-5)


def test_zscore_is_scale_and_offset_invariant() -> None:
    rng = np.random.default_rng(0)
    refl = rng.uniform(0.02, 0.6, (3, 32, 32)).astype(np.float32)
    dn = (refl * 10000 + 1000).astype(np.uint16)
    eight = np.clip(refl * 400, 1, 255).astype(np.uint8)
    a, b = zscore_patch(refl), zscore_patch(dn)
    np.testing.assert_allclose(a, b, atol=2e-3)
    assert np.corrcoef(zscore_patch(eight).ravel(), a.ravel())[0, 1] > 0.99


def test_constant_channel_becomes_zero_and_all_nodata_is_zero() -> None:
    img = np.full((3, 8, 8), 7, dtype=np.int16)
    assert not zscore_patch(img, nodata=None).any()
    assert not zscore_patch(np.zeros((3, 8, 8)), nodata=0).any()


def test_batch_twin_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    img = rng.uniform(0, 5000, (3, 40, 50)).astype(np.float32)
    img[:, :5, :] = 0
    valid = valid_mask(img, 0)
    out = zscore_batch(torch.from_numpy(img)[None], torch.from_numpy(valid)[None, None])
    np.testing.assert_allclose(out[0].numpy(), zscore_patch(img, 0), atol=1e-4)
