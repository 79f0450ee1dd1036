"""Numerics of the normalization lab: one patch as three products, two normalizations, predictions.

The patch is re-expressed as DN 0-10000 (uint16), reflectance 0-1 (float32) and an 8-bit
visual product (uint8, gain 2.5, bright cloud saturates), as different sensors and
processing levels deliver it. Each is normalized two ways: the engine's dynamic z-score
(per patch, per channel, valid pixels only) and one global normalization (fixed means and
standard deviations, as computed once on DN 0-10000 training data). Arrays are
``(bands, height, width)``: Red, Green, NIR.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from ocm_engine import Ensemble, valid_mask, zscore_patch
from ocm_engine.metrics import agreement

PRODUCTS: tuple[str, ...] = ("DN 0-10000 (uint16)", "Reflectance 0-1 (float32)", "8-bit (uint8)")
NORMALIZATIONS: tuple[str, ...] = ("Dynamic z-score", "Global normalization")
PATCH_SIZES: tuple[int, ...] = (64, 128, 256, 512)
BYTE_GAIN = 2.5
#: Two normalized values "agree" when they differ by less than this (in standard deviations).
MATCH_TOLERANCE = 0.05


@dataclass(frozen=True, slots=True)
class PatchWindow:
    """A square patch of the inference grid: top-left corner and side, in pixels."""

    top: int
    left: int
    size: int

    @property
    def slices(self) -> tuple[slice, slice]:
        """Row and column slices."""
        return slice(self.top, self.top + self.size), slice(self.left, self.left + self.size)


@dataclass(frozen=True, slots=True)
class LabResult:
    """Everything the lab page draws.

    Attributes:
        window: The patch.
        valid: ``(h, w)`` valid pixels of the patch.
        products: Product name -> raw patch ``(3, h, w)`` in the product's dtype.
        normalized: ``(normalization, product)`` -> float32 ``(3, h, w)``.
        classes: ``(normalization, product)`` -> ``(h, w)`` uint8 model classes.
        global_stats: Per-channel mean and std of the global normalization ``(2, 3)``.
    """

    window: PatchWindow
    valid: npt.NDArray[np.bool_]
    products: dict[str, np.ndarray]
    normalized: dict[tuple[str, str], npt.NDArray[np.float32]]
    classes: dict[tuple[str, str], npt.NDArray[np.uint8]]
    global_stats: npt.NDArray[np.float64]

    def agreement(self, normalization: str) -> dict[str, float]:
        """Per product: % of valid pixels whose class equals the DN product's class."""
        ref = self.classes[(normalization, PRODUCTS[0])]
        return {p: agreement(self.classes[(normalization, p)], ref, self.valid) for p in PRODUCTS}

    def spread(self, normalization: str) -> float:
        """Largest per-pixel difference between the products' normalized values (valid pixels).

        Dominated by the few 8-bit pixels clipped at 255 (bright cloud): see :meth:`matching_percent`.
        """
        stack = np.stack([self.normalized[(normalization, p)] for p in PRODUCTS])
        diff = stack.max(axis=0) - stack.min(axis=0)
        return float(diff[:, self.valid].max()) if self.valid.any() else 0.0

    def matching_percent(self, normalization: str, products: tuple[str, ...] = PRODUCTS,
                         tolerance: float = MATCH_TOLERANCE) -> float:
        """% of valid pixel values (all channels) where the products' normalized values agree.

        Agree means: the largest difference between the products is below ``tolerance`` (in
        standard deviations), i.e. the model sees the same input.
        """
        stack = np.stack([self.normalized[(normalization, p)] for p in products])
        diff = (stack.max(axis=0) - stack.min(axis=0))[:, self.valid]
        return 100.0 * float((diff < tolerance).mean()) if diff.size else 100.0

    def clipped_percent(self) -> float:
        """% of valid pixels the 8-bit product saturates (255 in any channel): information already lost."""
        byte = self.products[PRODUCTS[2]]
        clipped = (byte == 255).any(axis=0) & self.valid
        return 100.0 * float(clipped.sum()) / max(int(self.valid.sum()), 1)


def patch_sizes(shape: tuple[int, int]) -> tuple[list[int], int]:
    """The patch sides offered for a grid of ``shape`` (those that fit, else 32 px) and the default.

    The default is 256 px when it fits, else the largest side offered.
    """
    sizes = [s for s in PATCH_SIZES if s <= min(shape)] or [32]
    return sizes, min(256, sizes[-1]) if 256 in sizes else sizes[-1]


def fit_window(shape: tuple[int, int], centre: tuple[float, float], size: int) -> PatchWindow:
    """A patch of side ``size`` (shrunk to a multiple of 32 that fits) centred at fractions ``centre``."""
    height, width = shape
    side = max(32, min(size, (min(height, width) // 32) * 32))
    top = round(centre[0] * height - side / 2)
    left = round(centre[1] * width - side / 2)
    return PatchWindow(int(np.clip(top, 0, max(0, height - side))), int(np.clip(left, 0, max(0, width - side))),
                       side)


def pseudo_reflectance(image: npt.NDArray[np.floating], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """Scale a scene in any units to reflectance-like values (99.5th percentile at 0.5)."""
    values = image[:, valid]
    scale = float(np.percentile(values, 99.5)) / 0.5 if values.size else 1.0
    out = np.where(valid[None], image / max(scale, 1e-12), 0.0)
    return np.clip(out, 0.0, 2.0).astype(np.float32)


def as_products(reflectance: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]) -> dict[str, np.ndarray]:
    """The same reflectance as the three products (nodata stays 0 in every product)."""
    dn = np.where(valid[None], np.clip(np.round(reflectance * 10000), 1, 65535), 0).astype(np.uint16)
    byte = np.where(valid[None], np.clip(np.round(reflectance * 255 * BYTE_GAIN), 1, 255), 0).astype(np.uint8)
    refl = np.where(valid[None], np.maximum(reflectance, 1e-4), 0).astype(np.float32)
    return dict(zip(PRODUCTS, (dn, refl, byte), strict=True))


def global_statistics(scene_dn: npt.NDArray[np.uint16], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Per-channel mean and std of a whole DN scene: the fixed 'training statistics' ``(2, 3)``."""
    values = scene_dn[:, valid].astype(np.float64)
    return np.stack([values.mean(axis=1), values.std(axis=1) + 1e-8])


def global_normalize(patch: np.ndarray, stats: npt.NDArray[np.float64],
                     valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """``(x - mean) / std`` with fixed statistics; nodata set to 0."""
    out = (patch.astype(np.float64) - stats[0][:, None, None]) / stats[1][:, None, None]
    return np.where(valid[None], out, 0.0).astype(np.float32)


def predict_normalized(ensemble: Ensemble, normalized: npt.NDArray[np.float32],
                       valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """Classes of one already-normalized patch ``(3, h, w)`` (h, w multiples of 32)."""
    logits = ensemble.logits(torch.from_numpy(np.ascontiguousarray(normalized))[None])
    classes = logits[0].argmax(dim=0).to(torch.uint8).cpu().numpy()
    return np.where(valid, classes, 0).astype(np.uint8)


def run_lab(scene: npt.NDArray[np.floating], nodata: float | None, window: PatchWindow,
            ensemble: Ensemble) -> LabResult:
    """Normalize a scene's patch as three products, two ways, and predict each.

    Args:
        scene: The whole scene on the inference grid ``(3, h, w)`` (any units).
        nodata: Its nodata value.
        window: The patch.
        ensemble: The models.
    """
    scene_valid = valid_mask(scene, nodata)
    refl_scene = pseudo_reflectance(scene, scene_valid)
    stats = global_statistics(as_products(refl_scene, scene_valid)[PRODUCTS[0]], scene_valid)
    rows, cols = window.slices
    valid = scene_valid[rows, cols]
    products = as_products(refl_scene[:, rows, cols], valid)
    normalized: dict[tuple[str, str], npt.NDArray[np.float32]] = {}
    classes: dict[tuple[str, str], npt.NDArray[np.uint8]] = {}
    for name, patch in products.items():
        normalized[(NORMALIZATIONS[0], name)] = zscore_patch(patch, valid=valid)
        normalized[(NORMALIZATIONS[1], name)] = global_normalize(patch, stats, valid)
    for key, value in normalized.items():
        classes[key] = predict_normalized(ensemble, value, valid)
    return LabResult(window, valid, products, normalized, classes, stats)


def _false_colour(channels: npt.NDArray[np.floating], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """RGBA ``(h, w, 4)`` of values already in 0-1, shown as NIR, Red, Green; nodata transparent."""
    rgba = np.zeros((*valid.shape, 4), np.uint8)
    order = np.stack([channels[2], channels[0], channels[1]])
    rgba[..., :3] = np.moveaxis(np.round(np.clip(order, 0, 1) * 255), 0, -1).astype(np.uint8)
    rgba[..., 3] = np.where(valid, 255, 0)
    return rgba


def raw_rgba(dn: npt.NDArray[np.uint16], valid: npt.NDArray[np.bool_], top_dn: float = 4000.0) -> npt.NDArray[np.uint8]:
    """The raw DN patch ``(3, h, w)`` on a fixed linear scale (0 to ``top_dn``), false colour."""
    return _false_colour(dn.astype(np.float32) / top_dn, valid)


def zscore_rgba(z: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_], span: float = 2.0) -> npt.NDArray[np.uint8]:
    """A z-scored patch ``(3, h, w)`` from ``-span`` to ``+span`` standard deviations, false colour."""
    return _false_colour((z + span) / (2 * span), valid)


def patch_false_colour(dn: npt.NDArray[np.uint16], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
    """A percentile-stretched false-colour view of a patch (for thumbnails beside its masks)."""
    from ocm_engine.display import stretch

    return _false_colour(stretch(dn.astype(np.float32), valid), valid)


# ----------------------------------------------------------------------------- what per-patch statistics cost
#: Reflectance (on the lab's scale) above which a pixel is "bright" in all three channels, like cloud.
BRIGHT_REFLECTANCE = 0.3
#: Fixed display range of reflectance images in the cost section (so two images compare directly).
REFLECTANCE_RANGE = (0.0, 0.6)
#: Fixed display range of z-score images (standard deviations of each pixel's own patch).
Z_RANGE = (-3.0, 3.0)
#: A window takes part in the searches only when this share of its pixels is valid.
MIN_VALID_SHARE = 0.9


@dataclass(frozen=True, slots=True)
class PatchStats:
    """One patch's per-channel statistics (the lab's reflectance scale) and its cloud-like share."""

    window: PatchWindow
    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]
    bright_percent: float


@dataclass(frozen=True, slots=True)
class ContextCase:
    """The same ground z-scored inside two patches that both contain it.

    Attributes:
        focus: The shared ground (scene pixels).
        calm: The containing patch with the darkest neighbours (fewest cloud-like pixels).
        cloudy: The containing patch with the brightest neighbours (most cloud-like pixels).
        reflectance: ``(3, f, f)`` the focus pixels (identical in both patches).
        valid: ``(f, f)`` valid focus pixels.
        z_calm: ``(3, f, f)`` their z-scores with the calm patch's statistics.
        z_cloudy: ``(3, f, f)`` their z-scores with the cloudy patch's statistics.
    """

    focus: PatchWindow
    calm: PatchStats
    cloudy: PatchStats
    reflectance: npt.NDArray[np.float32]
    valid: npt.NDArray[np.bool_]
    z_calm: npt.NDArray[np.float32]
    z_cloudy: npt.NDArray[np.float32]

    def mean_shift(self) -> npt.NDArray[np.float64]:
        """Per channel: mean z of the focus pixels in the cloudy patch minus in the calm one (std)."""
        if not self.valid.any():
            return np.zeros(3)
        return np.array([float(self.z_cloudy[c][self.valid].mean() - self.z_calm[c][self.valid].mean())
                         for c in range(3)])


@dataclass(frozen=True, slots=True)
class FlatCase:
    """The scene's patch with the least contrast, z-scored: its noise becomes the signal.

    Attributes:
        stats: The flat patch's statistics (its ``std`` is tiny).
        reference: The patch chosen above, for comparison.
        reflectance: ``(3, s, s)`` the flat patch.
        z: ``(3, s, s)`` its z-scores.
        valid: ``(s, s)`` its valid pixels.
        channel: Index of the channel with the smallest std (the one shown).
    """

    stats: PatchStats
    reference: PatchStats
    reflectance: npt.NDArray[np.float32]
    z: npt.NDArray[np.float32]
    valid: npt.NDArray[np.bool_]
    channel: int

    def amplification(self) -> float:
        """How many times smaller 1 std is here than in the reference patch (shown channel)."""
        return float(self.reference.std[self.channel] / max(self.stats.std[self.channel], 1e-12))


def patch_stats(refl: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_], window: PatchWindow) -> PatchStats:
    """Mean, std and cloud-like share of a window of a ``(3, h, w)`` reflectance scene (valid pixels)."""
    rows, cols = window.slices
    ok = valid[rows, cols]
    values = refl[:, rows, cols][:, ok].astype(np.float64)
    if values.shape[1] == 0:
        return PatchStats(window, np.zeros(3), np.zeros(3), 0.0)
    bright = (values >= BRIGHT_REFLECTANCE).all(axis=0)
    return PatchStats(window, values.mean(axis=1), values.std(axis=1), 100.0 * float(bright.mean()))


def _zscore_with(refl: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_],
                 stats: PatchStats) -> npt.NDArray[np.float32]:
    """``(refl - mean) / std`` with another patch's statistics; nodata 0."""
    z = (refl.astype(np.float64) - stats.mean[:, None, None]) / (stats.std[:, None, None] + 1e-6)
    return np.where(valid[None], z, 0.0).astype(np.float32)


def _valid_share(valid: npt.NDArray[np.bool_], window: PatchWindow) -> float:
    rows, cols = window.slices
    return float(valid[rows, cols].mean())


def context_case(refl: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_], window: PatchWindow,
                 steps: int = 7) -> ContextCase | None:
    """The centre of ``window`` z-scored in the darkest and in the brightest patch of the same size holding it.

    The focus (a quarter of the patch's side, at its centre) is fixed; patches that contain it
    are tried on a ``steps x steps`` grid of positions and ranked by their share of cloud-like
    pixels (then by mean brightness). ``None`` when only one position exists (the patch is the
    whole scene).
    """
    height, width = valid.shape
    side = window.size
    f = max(16, side // 4)
    focus = PatchWindow(window.top + (side - f) // 2, window.left + (side - f) // 2, f)
    tops = np.unique(np.clip(np.linspace(focus.top + f - side, focus.top, steps).round().astype(int), 0,
                             max(0, height - side)))
    lefts = np.unique(np.clip(np.linspace(focus.left + f - side, focus.left, steps).round().astype(int), 0,
                              max(0, width - side)))
    candidates = [PatchWindow(int(t), int(left), side) for t in tops for left in lefts]
    candidates = [w for w in candidates if _valid_share(valid, w) >= MIN_VALID_SHARE] or candidates
    if len(candidates) < 2:
        return None
    ranked = sorted((patch_stats(refl, valid, w) for w in candidates),
                    key=lambda s: (s.bright_percent, float(s.mean[:2].mean())))
    calm, cloudy = ranked[0], ranked[-1]
    rows, cols = focus.slices
    focus_refl, focus_valid = refl[:, rows, cols], valid[rows, cols]
    return ContextCase(focus, calm, cloudy, focus_refl.astype(np.float32), focus_valid,
                       _zscore_with(focus_refl, focus_valid, calm), _zscore_with(focus_refl, focus_valid, cloudy))


def flat_case(refl: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_], reference: PatchWindow,
              size: int) -> FlatCase:
    """The ``size`` patch (on a half-patch grid) whose most uniform channel has the smallest std."""
    height, width = valid.shape
    side = min(size, height, width)
    step = max(8, side // 2)
    windows = [PatchWindow(t, left, side) for t in range(0, height - side + 1, step)
               for left in range(0, width - side + 1, step)]
    windows = [w for w in windows if _valid_share(valid, w) >= MIN_VALID_SHARE] or windows
    stats = [patch_stats(refl, valid, w) for w in windows]
    flat = min(stats, key=lambda s: (float(np.sort(s.std)[:2].mean())))
    rows, cols = flat.window.slices
    patch, ok = refl[:, rows, cols].astype(np.float32), valid[rows, cols]
    return FlatCase(flat, patch_stats(refl, valid, reference), patch, zscore_patch(patch, valid=ok), ok,
                    int(np.argmin(flat.std)))


@dataclass(frozen=True, slots=True)
class CostLesson:
    """What per-patch statistics cost, for one scene and the patch chosen in the lab.

    Attributes:
        refl: ``(3, h, w)`` the scene on the lab's reflectance scale.
        valid: ``(h, w)`` its valid pixels.
        context: The same ground in two patches (``None`` when the patch is the whole scene).
        flat: The scene's patch with the least contrast.
        reference_refl: ``(3, s, s)`` the chosen patch.
        reference_valid: ``(s, s)`` its valid pixels.
        reference_z: ``(3, s, s)`` its z-scores.
    """

    refl: npt.NDArray[np.float32]
    valid: npt.NDArray[np.bool_]
    context: ContextCase | None
    flat: FlatCase
    reference_refl: npt.NDArray[np.float32]
    reference_valid: npt.NDArray[np.bool_]
    reference_z: npt.NDArray[np.float32]


def cost_lesson(scene: npt.NDArray[np.floating], nodata: float | None, window: PatchWindow) -> CostLesson:
    """Both cost lessons for a scene ``(3, h, w)`` in any units (on the lab's reflectance scale)."""
    valid = valid_mask(scene, nodata)
    refl = pseudo_reflectance(scene, valid)
    rows, cols = window.slices
    ref_refl, ref_valid = refl[:, rows, cols], valid[rows, cols]
    return CostLesson(refl, valid, context_case(refl, valid, window), flattest(refl, valid, window),
                      ref_refl, ref_valid, zscore_patch(ref_refl, valid=ref_valid))


#: A flat patch "has no contrast left" when 1 std is at least this many times smaller than in the chosen one.
FLAT_AMPLIFICATION = 4.0


def flattest(refl: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_], window: PatchWindow) -> FlatCase:
    """The flat patch to show: at the chosen patch size, or halved (down to 32 px) until one is flat.

    A small scene holds few windows of a large patch, so the search shrinks the side until 1 std
    is :data:`FLAT_AMPLIFICATION` times smaller than in the chosen patch (else the flattest found).
    """
    found: list[FlatCase] = []
    size = window.size
    while size >= 32:
        case = flat_case(refl, valid, window, size)
        if case.amplification() >= FLAT_AMPLIFICATION:
            return case
        found.append(case)
        size //= 2
    return max(found, key=lambda c: c.amplification()) if found else flat_case(refl, valid, window, window.size)
