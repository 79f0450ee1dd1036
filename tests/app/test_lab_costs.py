"""The lab's lesson on what per-patch statistics cost, shown through the normalized values."""

from __future__ import annotations

import numpy as np

from ocm_app import figures, lab


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Textured land (reflectance ~0.1-0.2), a bright cloud deck on the left, a flat lake bottom right."""
    rng = np.random.default_rng(seed)
    h, w = 256, 256
    land = 0.1 + 0.1 * rng.random((3, h, w)).astype(np.float32)
    land[:, :, :70] = 0.5 + 0.01 * rng.random((3, h, 70))  # cloud deck
    land[:, 190:, 190:] = 0.03 + 0.001 * rng.random((3, 66, 66))  # all-water corner, no contrast
    return land.astype(np.float32), np.ones((h, w), bool)


def test_same_ground_gets_other_zscores_when_clouds_share_its_patch() -> None:
    refl, valid = _scene()
    case = lab.context_case(refl, valid, lab.PatchWindow(64, 64, 128))
    assert case is not None
    assert case.cloudy.bright_percent > 20 > case.calm.bright_percent  # B holds the cloud deck, A does not
    rows, cols = case.focus.slices
    np.testing.assert_array_equal(case.reflectance, refl[:, rows, cols])  # the very same pixels
    shift = case.mean_shift()
    assert (shift < -0.5).all(), shift  # the cloud raises mean and std: the ground drops in z
    # each is exactly the z-score with its own patch's statistics
    r, c = case.cloudy.window.slices
    patch = refl[:, r, c].astype(np.float64)
    z0 = (refl[0, 64 + 48, 64 + 48] - patch[0].mean()) / (patch[0].std() + 1e-6)
    assert abs(case.z_cloudy[0, 48 - (case.focus.top - 64), 48 - (case.focus.left - 64)] - z0) < 1e-3


def test_a_patch_without_contrast_amplifies_noise() -> None:
    refl, valid = _scene()
    chosen = lab.PatchWindow(64, 64, 128)
    flat = lab.flattest(refl, valid, chosen)
    assert flat.stats.window.top >= 190 - 32 and flat.stats.window.left >= 190 - 32  # found the lake
    assert flat.stats.std.max() < 0.001 and flat.amplification() > 20
    z = flat.z[flat.channel][flat.valid]
    assert abs(z.std() - 1) < 0.01  # noise of 0.0003 reflectance is now one full std
    fig = figures.flat_figure(flat, refl[:, 64:192, 64:192], valid[64:192, 64:192],
                              lab.cost_lesson(refl, None, chosen).reference_z)
    hist_axes = [ax for ax in fig.axes if ax.get_xlabel()]
    assert len(hist_axes) == 2 and all(ax.get_ylabel() for ax in hist_axes)


def test_channel_images_share_a_stated_stretch_and_histograms_are_labelled() -> None:
    refl, valid = _scene()
    patch = (refl[:, :128, :128] * 10000).astype(np.uint16)
    ok = valid[:128, :128]
    from ocm_engine import zscore_patch

    fig = figures.channels_figure(patch, zscore_patch(patch, valid=ok), ok, lab.PRODUCTS[0])
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 6
    raw_clims = {im.get_clim() for im in images[:3]}
    z_clims = {im.get_clim() for im in images[3:]}
    assert len(raw_clims) == 1 and z_clims == {lab.Z_RANGE}  # one stretch per row, not one per image
    hists = [ax for ax in fig.axes if ax.patches and not ax.images]
    assert len(hists) == 6
    assert all(ax.get_ylabel() == "pixel count" for ax in hists)
    assert {ax.get_xlabel() for ax in hists} == {"DN (reflectance x 10000)", figures.Z_LABEL}
    bars = [ax for ax in fig.axes if "one stretch" in ax.get_ylabel()]
    assert len(bars) == 2  # each row's stretch is stated on its colour bar

