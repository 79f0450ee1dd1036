"""Same members, same input, default tiling: our engine must match the reference engine."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from ocm_engine import InferenceOptions, load_ensemble, predict_array

omnicloudmask = pytest.importorskip("omnicloudmask")


def _reference(image: np.ndarray, members: list[torch.nn.Module], confidence: bool, **kw: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return omnicloudmask.predict_from_array(
            image, custom_models=members, inference_device="cpu", mosaic_device="cpu",
            inference_dtype=torch.float32, export_confidence=confidence, **kw,
        )


@pytest.mark.parametrize(
    ("shape", "patch", "overlap"),
    [((3, 150, 210), 1000, 300),  # the default patch; the multi-patch grids are in the slow set
     pytest.param((3, 260, 300), 128, 40, marks=pytest.mark.slow),
     pytest.param((3, 200, 333), 96, 30, marks=pytest.mark.slow)],
)
def test_matches_reference(tiny_members: list[torch.nn.Module], shape: tuple[int, int, int],
                           patch: int, overlap: int) -> None:
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0 : shape[1], 0 : shape[2]]
    smooth = np.sin(xx / 11.0) + np.cos(yy / 13.0)
    image = (2000 + 800 * smooth[None] + 300 * rng.random(shape)).astype(np.uint16)
    image[:, 40:60, 50:90] = 0  # interior nodata hole
    ens = load_ensemble(tiny_members, device="cpu", dtype="fp32")
    ours = predict_array(image, ensemble=ens, options=InferenceOptions(patch_px=patch, overlap_px=overlap))
    kw = {"patch_size": patch, "patch_overlap": overlap}
    ref_classes = _reference(image, tiny_members, False, **kw)[0]
    ref_probs = _reference(image, tiny_members, True, **kw)
    valid = ours.valid
    agreement = (ours.classes[valid] == ref_classes[valid]).mean()
    assert agreement >= 0.999, f"class agreement {agreement:.5f}"
    assert ours.probabilities is not None
    diff = np.abs(ours.probabilities[:, valid] - ref_probs[:, valid]).max()
    assert diff <= 2e-3, f"max probability difference {diff:.2e}"
    # nodata stays nodata, and differs from the valid area
    assert not valid[45, 60] and valid[10, 10]
