from __future__ import annotations

import numpy as np
import pytest
import torch

from ocm_engine import InferenceOptions, Prediction, predict_array
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
    pred = predict_array(img, bands=(0, 1, 3), ensemble=tiny_ensemble,
                         options=InferenceOptions(patch_px=64, overlap_px=16))
    assert isinstance(pred, Prediction)
    assert pred.classes.shape == (90, 120) and pred.classes.dtype == np.uint8
    assert pred.probabilities is not None and pred.probabilities.shape == (4, 90, 120)
    assert pred.probabilities.dtype == np.float32
    np.testing.assert_allclose(pred.probabilities[:, pred.valid].sum(axis=0), 1, atol=1e-5)
    assert not pred.valid[:10].any() and pred.valid[10:].all()
    assert (pred.probabilities[:, :10] == 0).all() and (pred.classes[:10] == 0).all()
    assert abs(sum(pred.class_percentages.values()) - 100) < 1e-6
    np.testing.assert_allclose(pred.nodata_percent, 100 * 10 / 90)
    # argmax of the probabilities is the class map, exactly
    np.testing.assert_array_equal(pred.probabilities.argmax(0)[pred.valid], pred.classes[pred.valid])


def test_same_scene_in_different_value_ranges_gives_same_mask(tiny_ensemble) -> None:
    refl = synthetic_scene(3, 80, 80, "float32")
    dn = (refl * 10000 + 1000).astype(np.uint16)
    a = predict_array(refl, ensemble=tiny_ensemble, options=InferenceOptions(patch_px=80))
    b = predict_array(dn, ensemble=tiny_ensemble, options=InferenceOptions(patch_px=80))
    assert a.probabilities is not None and b.probabilities is not None
    # the model answers the scene's content (a constant output would pass whatever the normalisation does)
    assert a.probabilities.std(axis=(1, 2)).max() > 1e-3
    # DN = 10000 * reflectance + 1000 is affine: per-band standardisation makes the inputs, so the outputs, equal
    np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-4)
    np.testing.assert_array_equal(a.classes, b.classes)


def test_progress_callback_and_no_probabilities(tiny_ensemble) -> None:
    calls: list[tuple[int, int]] = []
    pred = predict_array(synthetic_scene(3, 100, 100), ensemble=tiny_ensemble,
                         options=InferenceOptions(patch_px=48, overlap_px=12, batch_size=3, return_probabilities=False),
                         progress_callback=lambda d, t: calls.append((d, t)))
    assert pred.probabilities is None
    assert calls[-1][0] == calls[-1][1] and len(calls) >= 2


def test_missing_nir_warns_and_runs(tiny_ensemble) -> None:
    with pytest.warns(MissingNirWarning):
        pred = predict_array(synthetic_scene(3, 64, 64), bands=(0, 1, None), ensemble=tiny_ensemble)
    assert pred.classes.shape == (64, 64)


@pytest.mark.parametrize(
    ("image", "kwargs", "error", "subject", "arrived"),
    [
        (np.zeros((3, 64, 64), np.uint16), {}, NoValidDataError, "Image of 64 x 64 px",
         "all 4096 pixels nodata (the value 0, or NaN)"),
        (np.full((3, 64, 64), np.nan, np.float32), {"nodata": None}, NoValidDataError, "Image of 64 x 64 px",
         "all 4096 pixels nodata (the value None, or NaN)"),
        (np.ones((3, 20, 64), np.uint16), {}, ImageTooSmallError, "Image", "20 x 64 px"),
        (np.ones((64, 64), np.uint16), {}, InvalidImageError, "Image array", "2 dimensions (64, 64)"),
        (np.ones((3, 64, 64), np.complex64), {}, InvalidImageError, "Image dtype", "complex64"),
        (np.ones((128, 128, 3), np.uint16), {}, InvalidImageError, "Image shape", (128, 128, 3)),
        (np.ones((2, 64, 64), np.uint16), {}, BandMismatchError, "NIR band index", 2),
        (np.ones((4, 64, 64), np.uint16), {"bands": (0, 1)}, BandMismatchError, "Band indices", [0, 1]),
        (np.ones((4, 64, 64), np.uint16), {"bands": (0, None, 1)}, BandMismatchError, "Green band", None),
        ([[1, 2]], {}, InvalidImageError, "Image", "list"),
    ],
)
def test_bad_input_errors(tiny_ensemble, image, kwargs, error, subject, arrived) -> None:
    with pytest.raises(error) as info:
        predict_array(image, ensemble=tiny_ensemble, **kwargs)
    assert type(info.value) is error and isinstance(info.value, OcmError)
    assert (info.value.subject, info.value.arrived) == (subject, arrived)
    assert info.value.expected


def test_bad_input_hints_are_worded_per_front_end(tiny_ensemble) -> None:
    with pytest.raises(NoValidDataError) as info:
        predict_array(np.zeros((3, 64, 64), np.uint16), ensemble=tiny_ensemble)
    assert "nodata=" in info.value.hint("python") and "--" not in info.value.hint("python")
    assert "--nodata" in info.value.hint("cli") and "=" not in info.value.hint("cli")
    assert "--" not in info.value.hint("app") and "=" not in info.value.hint("app")
    with pytest.raises(ImageTooSmallError) as small:
        predict_array(np.ones((3, 20, 64), np.uint16), ensemble=tiny_ensemble)
    assert "resolution_m" in small.value.hint("python") and "--resolution" in small.value.hint("cli")


class _Pointwise(torch.nn.Module):
    """A model that commutes with every flip and rotation: a 1x1 conv after an isotropic blur."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.mix = torch.nn.Conv2d(3, 4, 1)
        kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
        self.register_buffer("kernel", kernel.expand(3, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(torch.nn.functional.conv2d(x, self.kernel, padding=1, groups=3))


@pytest.mark.parametrize("transforms", [8, 4])
def test_tta_with_an_equivariant_model_changes_nothing(transforms):
    from ocm_engine import InferenceOptions, load_ensemble

    ens = load_ensemble([_Pointwise()], device="cpu", dtype="fp32")
    image = synthetic_scene(3, 96, 96)
    opts = InferenceOptions(patch_px=64, overlap_px=16)
    plain = predict_array(image, ensemble=ens, options=opts)
    tta = predict_array(image, ensemble=ens, options=InferenceOptions(
        patch_px=64, overlap_px=16, tta=True, tta_transforms=transforms))
    np.testing.assert_array_equal(tta.classes, plain.classes)
    np.testing.assert_allclose(tta.probabilities, plain.probabilities, atol=1e-5)
    assert tta.run.tta_transforms == transforms and plain.run.tta_transforms == 0
    assert tta.run.tta_text == str(transforms) and plain.run.tta_text == "off"  # as the tags write it


def test_tta_changes_the_output_of_a_random_model(tiny_ensemble):
    from ocm_engine import InferenceOptions

    image = synthetic_scene(3, 64, 64)
    plain = predict_array(image, ensemble=tiny_ensemble.member(0), options=InferenceOptions(patch_px=64))
    tta = predict_array(image, ensemble=tiny_ensemble.member(0), options=InferenceOptions(patch_px=64, tta=True))
    assert np.abs(tta.probabilities - plain.probabilities).max() > 1e-3
    np.testing.assert_allclose(tta.probabilities.sum(axis=0)[tta.valid], 1.0, atol=1e-5)


def test_tta_logits_average_the_dihedral_group():
    from ocm_engine.forward import DIHEDRAL_8, tta_logits

    class Asymmetric(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            ramp = torch.arange(x.shape[-1], dtype=x.dtype).expand_as(x[:, :1])
            return torch.cat([x[:, :1] * ramp] * 4, dim=1)

    from ocm_engine import load_ensemble

    ens = load_ensemble([Asymmetric()], device="cpu", dtype="fp32")
    batch = torch.ones(1, 3, 8, 8)
    out = tta_logits(ens, batch, DIHEDRAL_8)
    # the column ramp averaged over all rotations/reflections is symmetric: constant 3.5
    torch.testing.assert_close(out, torch.full((1, 4, 8, 8), 3.5))


@pytest.mark.parametrize("tta", [False, True])
def test_members_from_one_pass_match_each_member_run_alone(tiny_ensemble, tta) -> None:
    from ocm_engine import InferenceOptions

    img = synthetic_scene(3, 96, 80)
    opts = InferenceOptions(patch_px=64, overlap_px=16, tta=tta, tta_transforms=4)
    both = predict_array(img, ensemble=tiny_ensemble, options=opts.replace(return_members=True))
    plain = predict_array(img, ensemble=tiny_ensemble, options=opts)
    assert len(both.member_classes) == len(tiny_ensemble.members) and plain.member_classes == ()
    np.testing.assert_array_equal(both.classes, plain.classes)
    assert both.probabilities is not None and plain.probabilities is not None
    np.testing.assert_allclose(both.probabilities, plain.probabilities, atol=1e-5)
    for index, member_map in enumerate(both.member_classes):
        alone = predict_array(img, ensemble=tiny_ensemble.member(index), options=opts, return_probabilities=False)
        np.testing.assert_array_equal(member_map, alone.classes)


def test_legacy_overrides_and_extra_warn_and_name_their_replacement(tiny_ensemble) -> None:
    """``patch_px=`` and friends still work for one release, with a DeprecationWarning that names
    ``options=InferenceOptions(...)``; ``Prediction.extra`` gives the typed run facts as text, warning."""
    import warnings

    from ocm_engine.provenance import RunFacts

    image = synthetic_scene(3, 64, 64)
    with pytest.warns(DeprecationWarning, match=r"options=InferenceOptions\(patch_px=64, overlap_px=16\)"):
        old = predict_array(image, ensemble=tiny_ensemble, patch_px=64, overlap_px=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        new = predict_array(image, ensemble=tiny_ensemble, options=InferenceOptions(patch_px=64, overlap_px=16))
    np.testing.assert_array_equal(old.classes, new.classes)
    assert isinstance(new.run, RunFacts) and new.run == old.run and new.run.patch_px == 64
    with pytest.warns(DeprecationWarning, match=r"Prediction\.run"):
        extra = new.extra
    assert extra["patch_px"] == "64" and extra["tta"] == "off" and extra["backend"] == new.run.backend
