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
