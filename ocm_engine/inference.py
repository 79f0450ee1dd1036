"""Tiled, overlap-blended ensemble inference on an in-memory array.

``predict_array`` takes ``(bands, height, width)`` in any real dtype, picks the
Red, Green and NIR bands, and runs the ensemble patch by patch: each patch is
z-scored on the device, the members' mean logits are weighted by a linear ramp
and summed into full-size accumulators on the device, and nothing returns to the
host until the classes (and probabilities) are final.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch
from tqdm.auto import tqdm

from ocm_engine.constants import (
    CLASS_NAMES,
    DEFAULT_OVERLAP_PX,
    DEFAULT_PATCH_PX,
    NUM_CLASSES,
)
from ocm_engine.errors import (
    BandMismatchError,
    InvalidImageError,
    MissingNirWarning,
    NoValidDataError,
)
from ocm_engine.models.ensemble import Ensemble, load_ensemble, resolve_device, resolve_dtype
from ocm_engine.normalize import valid_mask, zscore_batch
from ocm_engine.tiling import Window, blend_weights, fit_patch, patch_windows
from ocm_engine.types import BoolArray, DtypeName, FloatArray, UInt8Array

ProgressCallback = Callable[[int, int], None]
_DEFAULT_CACHE: dict[tuple[str, str], Ensemble] = {}


@dataclass(frozen=True, slots=True)
class Prediction:
    """The result of a prediction, on the grid of the input array.

    Attributes:
        classes: ``(height, width)`` uint8: 0 clear, 1 thick cloud, 2 thin cloud,
            3 cloud shadow; 0 where ``valid`` is False.
        probabilities: ``(4, height, width)`` float32 softmax of the blended logits
            (sums to 1 on valid pixels, 0 on nodata), or ``None`` when not asked for.
        valid: ``(height, width)`` bool, True where the input had data.
        model: A short description of the ensemble used.
        extra: Free-form string facts about the run (patch size, device...).
    """

    classes: UInt8Array
    probabilities: FloatArray | None
    valid: BoolArray
    model: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def valid_pixels(self) -> int:
        """Number of valid pixels."""
        return int(self.valid.sum())

    @property
    def nodata_percent(self) -> float:
        """Share of nodata pixels, in percent of all pixels."""
        return 100.0 * (1.0 - self.valid_pixels / self.valid.size)

    @property
    def class_percentages(self) -> dict[str, float]:
        """Per-class share of valid pixels, in percent, keyed by class name."""
        total = max(self.valid_pixels, 1)
        counts = np.bincount(self.classes[self.valid].ravel(), minlength=NUM_CLASSES)
        return {name: 100.0 * float(counts[i]) / total for i, name in enumerate(CLASS_NAMES)}

    @property
    def cloud_percent(self) -> float:
        """Thick plus thin cloud, in percent of valid pixels."""
        pct = self.class_percentages
        return pct["thick_cloud"] + pct["thin_cloud"]


def _check_image(image: object) -> npt.NDArray[np.generic]:
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(
            f"Expected a numpy array (bands, height, width); got {type(image).__name__}. "
            "Convert with np.asarray(...)."
        )
    if image.dtype.kind not in "buif":
        raise InvalidImageError(
            f"Image dtype {image.dtype} is not a real number type. Expected integer or float "
            "bands (raw DN, reflectance or pre-normalised); take np.abs() or .real of complex data."
        )
    if image.ndim != 3:
        hint = ""
        if image.ndim == 2:
            hint = " For one band add an axis (image[None]); the models need Red, Green, NIR."
        raise InvalidImageError(
            f"Expected an array of shape (bands, height, width); got {image.ndim} dimensions "
            f"{image.shape}.{hint}"
        )
    if image.shape[0] > 64 and image.shape[2] <= 64:
        raise InvalidImageError(
            f"Image shape {image.shape} looks channels-last. Expected (bands, height, width): "
            "use np.moveaxis(image, -1, 0)."
        )
    return image


def select_bands(
    image: npt.NDArray[np.generic], bands: tuple[int, int, int | None] | list[int | None]
) -> npt.NDArray[np.generic]:
    """Pick Red, Green and NIR (0-based indices) from ``(bands, height, width)``.

    A missing NIR (``None``) becomes a band of zeros, with a :class:`MissingNirWarning`.

    Raises:
        BandMismatchError: If the mapping does not have 3 entries or an index is out of range.
    """
    if len(bands) != 3:
        raise BandMismatchError(
            f"Expected 3 band indices (Red, Green, NIR); got {len(bands)}: {list(bands)}."
        )
    count = image.shape[0]
    for role, index in zip(("Red", "Green", "NIR"), bands, strict=True):
        if index is None and role != "NIR":
            raise BandMismatchError(f"{role} band is required; got None.")
        if index is not None and not 0 <= int(index) < count:
            raise BandMismatchError(
                f"{role} band index {index} is out of range: the image has {count} band(s) "
                f"(valid 0-based indices 0..{count - 1}). Check the band mapping or sensor preset."
            )
    red, green, nir = bands
    assert red is not None and green is not None
    if nir is None:
        warnings.warn(
            "No NIR band mapped: using zeros. Expect lower accuracy, especially for shadow.",
            MissingNirWarning,
            stacklevel=3,
        )
        picked = np.stack([image[int(red)], image[int(green)], np.zeros_like(image[0])])
        return picked
    idx = [int(red), int(green), int(nir)]
    if idx == [0, 1, 2] and count == 3:
        return image
    return image[idx]


def default_ensemble(device: torch.device, dtype: torch.dtype) -> Ensemble:
    """The embedded default ensemble, loaded once per process, device and dtype."""
    key = (str(device), str(dtype))
    if key not in _DEFAULT_CACHE:
        _DEFAULT_CACHE[key] = load_ensemble("default", device=device, dtype=dtype)
    return _DEFAULT_CACHE[key]


def default_batch_size(ensemble: Ensemble, patch_px: int) -> int:
    """Patches per forward pass: 1 on CPU, sized from free memory on CUDA."""
    if ensemble.device.type != "cuda":
        return 1
    free, _total = torch.cuda.mem_get_info(ensemble.device)
    # About 1.2 GB per megapixel per member at fp32 activations measured for these U-Nets.
    per_patch = 1.2e9 * (patch_px * patch_px / 1e6) * (0.6 if ensemble.dtype != torch.float32 else 1)
    return int(max(1, min(16, (free * 0.5) // per_patch)))


def _gather(
    image: npt.NDArray[np.generic], windows: list[Window], device: torch.device
) -> torch.Tensor:
    patches = np.stack([image[:, w.top : w.bottom, w.left : w.right] for w in windows])
    if patches.dtype.kind == "u" and patches.dtype.itemsize > 1 and patches.dtype != np.uint8:
        patches = patches.astype(np.int32 if patches.dtype.itemsize <= 2 else np.float64)
    tensor = torch.from_numpy(patches)
    if device.type == "cuda":
        tensor = tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device=device, dtype=torch.float32)


def _valid_tensor(batch: torch.Tensor, raw: torch.Tensor, nodata: float | None) -> torch.Tensor:
    finite = torch.isfinite(raw).all(dim=1, keepdim=True)
    if nodata is None or (isinstance(nodata, float) and np.isnan(nodata)):
        return finite
    return finite & ~(raw == nodata).all(dim=1, keepdim=True)


def predict_array(
    image: npt.NDArray[np.generic],
    *,
    bands: tuple[int, int, int | None] | list[int | None] = (0, 1, 2),
    nodata: float | None = 0,
    ensemble: Ensemble | None = None,
    patch_px: int = DEFAULT_PATCH_PX,
    overlap_px: int = DEFAULT_OVERLAP_PX,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    dtype: DtypeName | str | torch.dtype | None = None,
    progress: bool = False,
    progress_callback: ProgressCallback | None = None,
    return_probabilities: bool = True,
) -> Prediction:
    """Mask clouds and shadows in an image held in memory.

    Args:
        image: ``(bands, height, width)``, any real dtype: raw DN, reflectance or
            pre-normalised values.
        bands: 0-based indices of Red, Green and NIR (NIR ``None``: zeros, with a warning).
        nodata: Value marking missing pixels (a pixel is nodata when all three bands
            equal it; NaN always is). ``None``: only NaN is nodata.
        ensemble: The models; the embedded default when ``None``.
        patch_px: Patch side in pixels (shrunk to fit small images).
        overlap_px: Overlap between neighbouring patches.
        batch_size: Patches per forward pass; chosen from free memory when ``None``.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``; the ensemble's, or the best available.
        dtype: ``"fp32"``, ``"fp16"``, ``"bf16"``; the ensemble's, or the device default.
        progress: Show a tqdm progress bar.
        progress_callback: Called as ``callback(done_patches, total_patches)``.
        return_probabilities: Also return per-class probabilities (costs 16 bytes/pixel).

    Returns:
        The :class:`Prediction` on the input's grid.

    Raises:
        InvalidImageError: Wrong type, rank or dtype; image under 32 px.
        BandMismatchError: Band indices that the image does not have.
        NoValidDataError: Every pixel is nodata.
    """
    raw = select_bands(_check_image(image), bands)
    _, height, width = raw.shape
    patch, overlap = fit_patch(height, width, patch_px, overlap_px)
    valid = valid_mask(raw, nodata)
    if not valid.any():
        raise NoValidDataError(
            f"All {height * width} pixels of the {height} x {width} image are nodata "
            f"(nodata={nodata!r}, or NaN). Check the nodata value and the band mapping."
        )
    members = _pick_ensemble(ensemble, device, dtype)
    windows = [w for w in patch_windows(height, width, patch, overlap) if valid[w.slices].any()]
    size = batch_size or default_batch_size(members, patch)
    dev = members.device
    weights = blend_weights(patch, overlap, dev)
    logit_sum = torch.zeros((NUM_CLASSES, height, width), dtype=torch.float32, device=dev)
    weight_sum = torch.zeros((height, width), dtype=torch.float32, device=dev)
    bar = tqdm(total=len(windows), desc="ocm", unit="patch", disable=not progress)
    done = 0
    for start in range(0, len(windows), size):
        chunk = windows[start : start + size]
        batch = _gather(raw, chunk, dev)
        ok = _valid_tensor(batch, batch, None if nodata is None else float(nodata))
        logits = members.logits(zscore_batch(batch, ok)) * weights
        for window, patch_logits in zip(chunk, logits, strict=True):
            rows, cols = window.slices
            logit_sum[:, rows, cols] += patch_logits
            weight_sum[rows, cols] += weights
        done += len(chunk)
        bar.update(len(chunk))
        if progress_callback is not None:
            progress_callback(done, len(windows))
    bar.close()
    return _finish(logit_sum, weight_sum, valid, members, return_probabilities, patch, overlap)


def _pick_ensemble(
    ensemble: Ensemble | None, device: str | torch.device | None, dtype: object
) -> Ensemble:
    if ensemble is None:
        target = resolve_device(device)
        return default_ensemble(target, resolve_dtype(dtype, target))  # type: ignore[arg-type]
    if device is None and dtype is None:
        return ensemble
    target = resolve_device(device) if device is not None else ensemble.device
    compute = resolve_dtype(dtype, target) if dtype is not None else ensemble.dtype  # type: ignore[arg-type]
    if target == ensemble.device and compute == ensemble.dtype:
        return ensemble
    return ensemble.to(target, compute)


def _finish(
    logit_sum: torch.Tensor,
    weight_sum: torch.Tensor,
    valid: BoolArray,
    members: Ensemble,
    return_probabilities: bool,
    patch: int,
    overlap: int,
) -> Prediction:
    dev = logit_sum.device
    valid_t = torch.from_numpy(valid).to(dev)
    classes = torch.argmax(logit_sum, dim=0).to(torch.uint8)
    classes = torch.where(valid_t, classes, torch.zeros((), dtype=torch.uint8, device=dev))
    probabilities = None
    if return_probabilities:
        mean = logit_sum / weight_sum.clamp(min=1e-12)
        del logit_sum
        probs = torch.softmax(mean, dim=0) * valid_t
        probabilities = probs.cpu().numpy().astype(np.float32, copy=False)
    extra = {
        "patch_px": str(patch),
        "overlap_px": str(overlap),
        "device": str(members.device),
        "dtype": str(members.dtype).removeprefix("torch."),
    }
    model = f"{members.source} ({', '.join(members.names)})"
    return Prediction(classes.cpu().numpy(), probabilities, valid, model, extra)
