"""Tiled, overlap-blended ensemble inference on an in-memory array.

``predict_array`` takes ``(bands, height, width)`` in any real dtype, picks the
Red, Green and NIR bands, and runs the ensemble batch by batch. A reader thread
gathers the next batch of patches on the host (pinned for CUDA) while the device
works on the current one; each batch is z-scored on the device, the members' mean
logits are weighted by a linear ramp and blended into a band of rows on the device
(:class:`~ocm_engine.tiling.RowMosaic`), and rows come back to the host, finished,
once per patch row. On CUDA out-of-memory the batch is halved and retried.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
import torch
from rasterio.crs import CRS
from rasterio.transform import Affine
from tqdm.auto import tqdm

from ocm_engine.backends import resolve_backend
from ocm_engine.calibration import calibrate_logits
from ocm_engine.constants import (
    NUM_CLASSES,
)
from ocm_engine.errors import (
    BandMismatchError,
    Hints,
    InvalidImageError,
    MissingNirWarning,
    NoValidDataError,
    OcmWarning,
    emit,
)
from ocm_engine.forward import DIHEDRAL_8, FLIPS_4, Forward, default_batch_size, prefetched
from ocm_engine.io.scene import Scene
from ocm_engine.metrics import ClassStatistics, class_statistics
from ocm_engine.models.cache import cached_ensemble
from ocm_engine.models.ensemble import Ensemble, load_ensemble
from ocm_engine.models.policy import resolve_device, resolve_dtype
from ocm_engine.normalize import valid_mask
from ocm_engine.options import InferenceOptions, warn_legacy_keywords
from ocm_engine.provenance import Provenance, RunFacts, WeightsIdentity
from ocm_engine.tiling import RowMosaic, fit_patch, patch_windows
from ocm_engine.types import BoolArray, DtypeName, FloatArray, GridInfo, UInt8Array

__all__ = ["Prediction", "ProgressCallback", "RunFacts", "predict_array", "predict_scene", "select_bands"]

ProgressCallback = Callable[[int, int], None]


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
        run: How the run went: patch, overlap, batch size, device, dtype, TTA, backend, weights
            (typed; it replaces the former string dict ``extra``).
        transform: Affine transform of the grid (identity for a bare array).
        crs: Coordinate reference system of the grid, or ``None``.
        provenance: Where the input bands and the models came from (``None`` for a bare array).
        warnings: The engine's warnings about this result (typed, as raised).
        member_classes: One ``(height, width)`` uint8 class map per ensemble member, from the
            same forward pass as ``classes`` (only with ``InferenceOptions.return_members``).
    """

    classes: UInt8Array
    probabilities: FloatArray | None
    valid: BoolArray
    model: str = ""
    run: RunFacts = field(default_factory=RunFacts)
    transform: Affine = field(default_factory=Affine.identity)
    crs: CRS | None = None
    provenance: Provenance | None = None
    warnings: tuple[OcmWarning, ...] = ()
    member_classes: tuple[UInt8Array, ...] = ()

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the grid."""
        height, width = self.classes.shape
        return int(height), int(width)

    def __repr__(self) -> str:
        """A short summary (size, CRS, resolution, bands, classes, model), never the arrays."""
        from ocm_engine.reprs import prediction_repr

        return prediction_repr(self)

    def _repr_html_(self) -> str:
        """The summary as HTML for notebooks (see :mod:`ocm_engine.reprs`)."""
        from ocm_engine.reprs import prediction_html

        return prediction_html(self)

    @property
    def extra(self) -> dict[str, str]:
        """Deprecated: the run facts as text; read the typed :attr:`run` instead."""
        warnings.warn("Prediction.extra is deprecated and will be removed in the next release: read the "
                      "typed Prediction.run (RunFacts: patch_px, device, dtype, batch_size, ...) instead.",
                      DeprecationWarning, stacklevel=2)
        return self.run.as_text()

    @property
    def grid(self) -> GridInfo:
        """The georeferencing writers need (width, height, transform, CRS)."""
        height, width = self.shape
        return GridInfo(width, height, self.transform, self.crs)

    @property
    def statistics(self) -> ClassStatistics:
        """Class counts and percentages over the valid pixels (see :mod:`ocm_engine.metrics`)."""
        return class_statistics(self.classes, self.valid)

    @property
    def valid_pixels(self) -> int:
        """Number of valid pixels."""
        return int(self.valid.sum())

    @property
    def nodata_percent(self) -> float:
        """Share of nodata pixels, in percent of all pixels."""
        return self.statistics.nodata_percent

    @property
    def class_percentages(self) -> dict[str, float]:
        """Per-class share of valid pixels, in percent, keyed by class name."""
        return self.statistics.percentages

    @property
    def cloud_percent(self) -> float:
        """Thick plus thin cloud, in percent of valid pixels."""
        return self.statistics.cloud_percent


def _check_image(image: object) -> npt.NDArray[np.generic]:
    if not isinstance(image, np.ndarray):
        raise InvalidImageError("Image", arrived=type(image).__name__,
                                expected="a numpy array (bands, height, width)",
                                hints=Hints.same("Convert with np.asarray(...)."))
    if image.dtype.kind not in "buif":
        raise InvalidImageError(
            "Image dtype", arrived=str(image.dtype),
            expected="integer or float bands (raw DN, reflectance or pre-normalised)",
            hints=Hints.same("Take np.abs() or .real of complex data."),
        )
    if image.ndim != 3:
        hints = None
        if image.ndim == 2:
            hints = Hints.same("For one band add an axis (image[None]); the models need Red, Green, NIR.")
        raise InvalidImageError("Image array", arrived=f"{image.ndim} dimensions {image.shape}",
                                expected="(bands, height, width)", hints=hints)
    if image.shape[0] > 64 and image.shape[2] <= 64:
        raise InvalidImageError("Image shape", arrived=image.shape,
                                expected="(bands, height, width), not channels-last",
                                hints=Hints.same("Use np.moveaxis(image, -1, 0)."))
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
        raise BandMismatchError("Band indices", arrived=list(bands), expected="3 indices (Red, Green, NIR)")
    count = image.shape[0]
    for role, index in zip(("Red", "Green", "NIR"), bands, strict=True):
        if index is None and role != "NIR":
            raise BandMismatchError(reason="required", role=role)
        if index is not None and not 0 <= int(index) < count:
            raise BandMismatchError(reason="out_of_range", role=role, asked=int(index), available=count)
    red, green, nir = bands
    assert red is not None and green is not None
    if nir is None:
        emit(
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


def predict_array(
    image: npt.NDArray[np.generic],
    *,
    bands: tuple[int, int, int | None] | list[int | None] = (0, 1, 2),
    nodata: float | None = 0,
    ensemble: Ensemble | None = None,
    options: InferenceOptions | None = None,
    patch_px: int | None = None,
    overlap_px: int | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    dtype: DtypeName | str | torch.dtype | None = None,
    progress: bool = False,
    progress_callback: ProgressCallback | None = None,
    return_probabilities: bool | None = None,
    valid: npt.NDArray[np.bool_] | None = None,
) -> Prediction:
    """Mask clouds and shadows in an image held in memory.

    Band numbers here are **0-based numpy indices** into the array's first axis (``bands=(2, 1, 3)``
    picks ``image[2]`` as Red), unlike files, whose bands are numbered 1-based as GDAL does
    (:func:`read_scene`, ``--bands``, :class:`~ocm_engine.io.mapping.BandMapping`).

    Args:
        image: ``(bands, height, width)``, any real dtype: raw DN, reflectance or
            pre-normalised values.
        bands: **0-based** indices of Red, Green and NIR (NIR ``None``: zeros, with a warning).
        nodata: Value marking missing pixels (a pixel is nodata when all three bands
            equal it; NaN always is). ``None``: only NaN is nodata.
        ensemble: The models; the embedded default (from the model cache) when ``None``.
        options: Patch, overlap, batch, device, dtype, TTA... (see :class:`InferenceOptions`).
        patch_px: Deprecated (``DeprecationWarning``): use ``options=InferenceOptions(patch_px=...)``.
        overlap_px: Deprecated: ``options.overlap_px``.
        batch_size: Deprecated: ``options.batch_size``.
        device: Deprecated: ``options.device``.
        dtype: Deprecated: ``options.dtype``.
        progress: Show a tqdm progress bar.
        progress_callback: Called as ``callback(done_patches, total_patches)``.
        return_probabilities: Deprecated: ``options.return_probabilities``.
        valid: ``(height, width)`` mask of pixels with data, when the caller has it already
            (:func:`predict_scene` passes the scene's); computed from ``nodata`` when ``None``.

    Returns:
        The :class:`Prediction` on the input's grid (identity transform, no CRS); with
        ``options.return_members`` also every member's class map from the same pass.

    Raises:
        InvalidImageError: Wrong type, rank or dtype; image under 32 px.
        BandMismatchError: Band indices that the image does not have.
        NoValidDataError: Every pixel is nodata.
    """
    legacy = {"patch_px": patch_px, "overlap_px": overlap_px, "batch_size": batch_size,
              "device": None if device is None else str(device), "dtype": _dtype_name(dtype),
              "return_probabilities": return_probabilities}
    warn_legacy_keywords("predict_array", legacy, "InferenceOptions", "options")
    opts = (options or InferenceOptions()).replace(**legacy)
    raw = select_bands(_check_image(image), bands)
    _, height, width = raw.shape
    patch, overlap = fit_patch(height, width, opts.patch_px, opts.overlap_px)
    if valid is None:
        valid = valid_mask(raw, nodata)
    elif valid.shape != raw.shape[1:]:
        raise InvalidImageError("Valid mask shape", arrived=valid.shape,
                                expected=f"the image's (height, width) {raw.shape[1:]}")
    if not valid.any():
        raise NoValidDataError(
            f"Image of {height} x {width} px",
            arrived=f"all {height * width} pixels nodata (the value {nodata!r}, or NaN)",
            expected="at least one valid pixel",
            hints=Hints(python="Check nodata= and the band mapping (bands=).", cli="Check --nodata and --bands.",
                        app="Check the nodata value and the band mapping."),
        )
    members = _pick_ensemble(ensemble, opts)
    windows = [w for w in patch_windows(height, width, patch, overlap) if valid[w.slices].any()]
    size = opts.batch_size or default_batch_size(members, patch)
    transforms = (DIHEDRAL_8 if opts.tta_transforms == 8 else FLIPS_4) if opts.tta else ()
    forward = Forward(members, size, None if nodata is None else float(nodata), transforms,
                      per_member=opts.return_members)
    mosaic_device = members.device if opts.mosaic_device is None else resolve_device(opts.mosaic_device)
    mosaic = RowMosaic(valid, patch, overlap, NUM_CLASSES, mosaic_device, opts.return_probabilities)
    member_mosaics = [RowMosaic(valid, patch, overlap, NUM_CLASSES, mosaic_device, False)
                      for _ in members.members] if opts.return_members else []
    pin = members.device.type == "cuda"
    bar = tqdm(total=len(windows), desc="ocm", unit="patch", disable=not progress)
    done = 0
    for chunk, host_batch in prefetched(raw, windows, size, pin):
        logits = forward(host_batch).to(mosaic_device)
        if member_mosaics:
            for index, member_mosaic in enumerate(member_mosaics):
                member_mosaic.add(chunk, logits[:, index])
            logits = logits.mean(dim=1)
        logits = calibrate_logits(logits, members)  # per-class bias from ensemble.json (H)
        mosaic.add(chunk, logits)
        done += len(chunk)
        bar.update(len(chunk))
        if progress_callback is not None:
            progress_callback(done, len(windows))
    bar.close()
    classes, probabilities = mosaic.finish()
    facts = RunFacts(
        patch_px=patch, overlap_px=overlap, batch_size=forward.batch_size, device=str(members.device),
        dtype=str(members.dtype).removeprefix("torch."), tta_transforms=len(transforms),
        backend=members.backend_label, model_version=members.version,
        weights=WeightsIdentity.from_facts(members.metadata),
        weights_source=members.metadata.get("weights_source", ""),
    )
    model = f"{members.source} ({', '.join(members.names)})"
    member_classes = tuple(m.finish()[0] for m in member_mosaics)
    return Prediction(classes, probabilities, valid, model, facts, member_classes=member_classes)


def predict_scene(
    scene: Scene,
    ensemble: Ensemble | None = None,
    options: InferenceOptions | None = None,
    *,
    progress: bool = False,
    progress_callback: ProgressCallback | None = None,
) -> Prediction:
    """Mask clouds and shadows in a :class:`~ocm_engine.io.scene.Scene` (see :func:`read_scene`).

    Args:
        scene: Red, Green, NIR on the inference grid, with its valid mask and georeferencing.
        ensemble: The models; the embedded default (from the model cache) when ``None``.
        options: Patch, overlap, batch, device, dtype, TTA... (see :class:`InferenceOptions`).
        progress: Show a tqdm progress bar.
        progress_callback: Called as ``callback(done_patches, total_patches)``.

    Returns:
        The :class:`Prediction` on the scene's grid, carrying its transform, CRS, the scene's
        warnings and the provenance of bands and models, so writers need nothing else.

    Raises:
        ImageTooSmallError: A grid under 32 px on a side.
        NoValidDataError: Every pixel is nodata.
    """
    # The scene holds Red, Green, NIR already (mapped when read): no re-selection, and its own valid mask.
    pred = predict_array(scene.data, nodata=scene.nodata, ensemble=ensemble, options=options,
                         progress=progress, progress_callback=progress_callback, valid=scene.valid)
    provenance = scene.provenance.with_model(pred.model, pred.run.model_version, pred.run.weights)
    return replace(pred, transform=scene.transform, crs=scene.crs, provenance=provenance,
                   warnings=scene.warnings)


def _dtype_name(dtype: DtypeName | str | torch.dtype | None) -> DtypeName | None:
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        names: dict[torch.dtype, DtypeName] = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}
        return names[dtype]
    text = str(dtype).lower()
    if text not in ("fp32", "fp16", "bf16"):
        resolve_dtype(text, torch.device("cpu"))  # raises ModelLoadError with the valid names
    return text  # type: ignore[return-value]


_CONVERTED: dict[tuple[int, str, str, str], tuple[Ensemble, Ensemble]] = {}
_CONVERTED_LOCK = threading.Lock()


def _converted(ensemble: Ensemble, backend: str, device: torch.device, dtype: torch.dtype,
               int8: bool | None = None) -> Ensemble:
    """``ensemble`` on another backend (or int8), converted once per process (keyed by the ensemble).

    The source ensemble is kept alive with its conversion, so the key stays valid. Conversion
    itself is cached on disk (:mod:`ocm_engine.backends.store`).
    """
    same_int8 = int8 is None or int8 == ensemble.int8
    if resolve_backend(backend, device, dtype) == ensemble.backend and same_int8:
        return ensemble.to(device, dtype)
    key = (id(ensemble), f"{backend}|int8={int8}", str(device), str(dtype))
    with _CONVERTED_LOCK:
        hit = _CONVERTED.get(key)
        if hit is None or hit[0] is not ensemble:
            hit = (ensemble, load_ensemble(ensemble, device=device, dtype=dtype, backend=backend, int8=int8))
            _CONVERTED[key] = hit
            while len(_CONVERTED) > 4:  # a few ensembles per process; the oldest goes first
                del _CONVERTED[next(iter(_CONVERTED))]
        return hit[1]


def _pick_ensemble(ensemble: Ensemble | None, options: InferenceOptions) -> Ensemble:
    """The ensemble to run: the given one (a moved copy if options ask for another device/dtype)."""
    if ensemble is None:
        target = resolve_device(options.device)
        return cached_ensemble("default", device=target, dtype=options.dtype,
                               compile=options.compile, backend=options.backend, int8=options.int8)
    if options.backend != "auto" or options.int8 is not None:
        target = resolve_device(options.device) if options.device is not None else ensemble.device
        compute = resolve_dtype(options.dtype, target) if options.dtype is not None else ensemble.dtype
        # "auto" keeps a given ensemble's backend, unless int8 is asked for (OpenVINO runs it)
        backend = options.backend if options.backend != "auto" or options.int8 else ensemble.backend
        chosen = _converted(ensemble, backend, target, compute, options.int8)
    elif options.device is None and options.dtype is None:
        chosen = ensemble
    else:
        target = resolve_device(options.device) if options.device is not None else ensemble.device
        compute = resolve_dtype(options.dtype, target) if options.dtype is not None else ensemble.dtype
        chosen = ensemble.to(target, compute)
    if options.compile and not chosen.compiled and chosen.backend == "torch":
        chosen = chosen.compile(options.compile if isinstance(options.compile, str) else None)
    return chosen
