"""Inference runs the app makes, their results and their downloads.

A run reads a scene on its inference grid, calls :func:`ocm_engine.predict_array` and
keeps everything a page draws: the prediction, the grid, timing and the engine's warnings.
Arrays are ``(bands, height, width)``; maps ``(height, width)``.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rasterio.crs import CRS
from rasterio.transform import Affine

from ocm_app.scenes import SceneSpec, inference_resolution, inference_shape, read_inference_array, scene_info
from ocm_engine import Ensemble, Prediction, predict_array
from ocm_engine.constants import CLASS_NAMES, NUM_CLASSES
from ocm_engine.export import (
    GridInfo,
    class_statistics,
    write_class_geotiff,
    write_png,
    write_probability_geotiff,
)

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Inference settings chosen in the UI (``None``: the engine's default)."""

    resolution_m: float | None = None
    patch_px: int = 1000
    overlap_px: int = 300
    batch_size: int | None = None


@dataclass(frozen=True, slots=True)
class RunResult:
    """One finished run.

    Attributes:
        spec: The scene and mapping used.
        options: The settings used.
        prediction: The engine's result on the inference grid.
        resolution_m: Inference resolution (``nan`` when unknown).
        source_resolution_m: The scene's own resolution.
        transform: Affine transform of the inference grid.
        crs: CRS string of the grid, or ``None``.
        seconds: Wall time of the model run (reading excluded).
        warnings: The engine's warnings, as text.
    """

    spec: SceneSpec
    options: RunOptions
    prediction: Prediction
    resolution_m: float
    source_resolution_m: float
    transform: Affine
    crs: str | None
    seconds: float
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the inference grid."""
        return self.prediction.classes.shape  # type: ignore[return-value]

    @property
    def grid(self) -> GridInfo:
        """Georeferencing for the exports."""
        h, w = self.shape
        return GridInfo(w, h, self.transform, CRS.from_user_input(self.crs) if self.crs else None)

    def statistics(self) -> dict[str, float]:
        """Per-class %, cloud %, valid pixels and nodata % (as in the engine's JSON)."""
        return class_statistics(self.prediction.classes, self.prediction.valid)

    def facts(self) -> dict[str, str]:
        """Run facts for the JSON and the GeoTIFF tags."""
        res = f"{self.resolution_m:.4g}" if math.isfinite(self.resolution_m) else "source"
        src = f"{self.source_resolution_m:.4g}" if math.isfinite(self.source_resolution_m) else "unknown"
        return {"model": self.prediction.model, "source": self.spec.label, "sensor": self.spec.sensor or "",
                "inference_resolution_m": res, "source_resolution_m": src, "software": "ocm_studio app",
                "seconds": f"{self.seconds:.2f}", **self.prediction.extra}


def run_scene(spec: SceneSpec, options: RunOptions, ensemble: Ensemble,
              progress: Progress | None = None, return_probabilities: bool = True) -> RunResult:
    """Read a scene on its inference grid and predict it.

    Raises:
        OcmError: Unreadable scene, bad mapping, impossible resolution, no valid data.
    """
    info = scene_info(spec)
    resolution = inference_resolution(info, options.resolution_m)
    image, transform, crs, nodata = read_inference_array(spec, inference_shape(info, resolution))
    return run_array(spec, options, ensemble, image, transform, crs, nodata, resolution,
                     info.resolution_m, progress, return_probabilities)


def run_array(spec: SceneSpec, options: RunOptions, ensemble: Ensemble, image: npt.NDArray[np.float32],
              transform: Affine, crs: str | None, nodata: float | None, resolution_m: float,
              source_m: float, progress: Progress | None = None,
              return_probabilities: bool = True) -> RunResult:
    """Predict an array already on the inference grid (shared by the pages)."""
    start = time.perf_counter()
    # An unmapped NIR arrives as a band of zeros: hand the engine ``None`` so its own warning
    # (MissingNirWarning) is what the user reads.
    nir: int | None = 2 if image.shape[0] >= 3 and np.any(image[2]) else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if math.isfinite(resolution_m) and not 10 <= resolution_m <= 50:
            warnings.warn(f"Inferring at {resolution_m:.4g} m, outside the validated 10-50 m range; "
                          "expect lower accuracy.", UserWarning, stacklevel=2)
        pred = predict_array(image, bands=(0, 1, nir), nodata=nodata, ensemble=ensemble,
                             patch_px=options.patch_px, overlap_px=options.overlap_px,
                             batch_size=options.batch_size, progress_callback=progress,
                             return_probabilities=return_probabilities)
    seconds = time.perf_counter() - start
    texts = tuple(dict.fromkeys(str(w.message) for w in caught))
    return RunResult(spec, options, pred, resolution_m, source_m, transform, crs, seconds, texts)


def entropy(probabilities: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """Normalised Shannon entropy of per-class probabilities ``(4, h, w)``: 0 certain, 1 uniform."""
    p = np.clip(probabilities, 1e-12, 1.0)
    ent = -(p * np.log(p)).sum(axis=0) / math.log(NUM_CLASSES)
    return np.where(valid, ent, 0.0).astype(np.float32)


def export_bytes(result: RunResult, folder: Path | None = None,
                 rgb: npt.NDArray[np.uint8] | None = None) -> dict[str, bytes]:
    """The downloads of a run: class GeoTIFF, probabilities GeoTIFF, PNG quick-look and JSON statistics.

    Files are written with the engine's writers (in a temporary folder) and returned as bytes.
    ``rgb`` (a true-colour rendering ``(h, w, 3|4)``) goes beside the mask in the PNG.
    """
    pred = result.prediction
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        base = Path(tmp)
        facts = result.facts()
        out["classes.tif"] = write_class_geotiff(base / "c.tif", pred.classes, pred.valid, result.grid,
                                                 facts).read_bytes()
        if pred.probabilities is not None:
            out["probabilities.tif"] = write_probability_geotiff(
                base / "p.tif", pred.probabilities, pred.valid, result.grid).read_bytes()
        out["mask.png"] = write_png(base / "m.png", pred.classes, pred.valid, rgb=rgb,
                                    title=result.spec.label).read_bytes()
    stats = result.statistics()
    payload = {"statistics": stats, "run": facts,
               "classes": {str(i): n for i, n in enumerate(CLASS_NAMES)}}
    out["stats.json"] = json.dumps(payload, indent=2, sort_keys=True).encode()
    return out


def download_name(spec: SceneSpec, suffix: str) -> str:
    """A safe download file name for a scene (letters, digits, ``-_.`` only)."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in spec.label)[:60].strip("_.") or "scene"
    return f"{stem}_ocm_{suffix}"
