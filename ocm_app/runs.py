"""Inference runs the app makes, their results and their downloads.

A run reads a scene on its inference grid (:func:`ocm_app.scenes.read_inference`, i.e. the
engine's :func:`~ocm_engine.read_scene`), calls :func:`ocm_engine.predict_scene` and keeps
the :class:`~ocm_engine.Prediction`: it carries the grid (transform, CRS), the provenance
(bands, resolutions, models) and the engine's typed warnings, so a page needs nothing else.
Arrays are ``(bands, height, width)``; maps ``(height, width)``.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ocm_app.scenes import SceneSpec
from ocm_engine import Ensemble, InferenceOptions, Prediction, Scene, predict_scene
from ocm_engine.constants import DEFAULT_OVERLAP_PX, DEFAULT_PATCH_PX
from ocm_engine.errors import OcmWarning
from ocm_engine.options import ReadOptions
from ocm_engine.outputs.geotiff import write_class_geotiff, write_probability_geotiff
from ocm_engine.outputs.quicklook import write_png
from ocm_engine.outputs.report import OutputPaths, SceneOutputs, report_bytes
from ocm_engine.provenance import Provenance
from ocm_engine.types import CRS, Affine, GridInfo

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Inference settings chosen in the UI (``None``: the engine's default)."""

    resolution_m: float | None = None
    patch_px: int = DEFAULT_PATCH_PX
    overlap_px: int = DEFAULT_OVERLAP_PX
    batch_size: int | None = None
    tta: bool = False
    backend: str = "auto"

    def with_resolution(self, resolution_m: float | None) -> RunOptions:
        """The same settings at another inference resolution."""
        return dataclasses.replace(self, resolution_m=resolution_m)

    def inference(self, *, return_probabilities: bool = True, return_members: bool = False) -> InferenceOptions:
        """The engine's :class:`~ocm_engine.InferenceOptions` for these settings."""
        return InferenceOptions(patch_px=self.patch_px, overlap_px=self.overlap_px, batch_size=self.batch_size,
                                tta=self.tta, return_probabilities=return_probabilities,
                                return_members=return_members,
                                backend="openvino" if self.backend == "openvino" else
                                "torch" if self.backend == "torch" else "auto")


@dataclass(frozen=True, slots=True)
class RunResult:
    """One finished run.

    Attributes:
        spec: The scene and mapping used.
        options: The settings used.
        prediction: The engine's result on the inference grid, with its grid, provenance and warnings.
        seconds: Wall time of the model run (reading excluded).
    """

    spec: SceneSpec
    options: RunOptions
    prediction: Prediction
    seconds: float

    @property
    def provenance(self) -> Provenance:
        """Bands, sensor, resolutions and models of the run."""
        assert self.prediction.provenance is not None  # predict_scene always sets it
        return self.prediction.provenance

    @property
    def resolution_m(self) -> float:
        """Inference resolution (``nan`` when unknown)."""
        return self.provenance.resolution_m

    @property
    def source_resolution_m(self) -> float:
        """The scene's own resolution (``nan`` when unknown)."""
        return self.provenance.source_resolution_m

    @property
    def warnings(self) -> tuple[OcmWarning, ...]:
        """The engine's warnings about the scene and the run (typed)."""
        return self.prediction.warnings

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the inference grid."""
        return self.prediction.shape

    @property
    def grid(self) -> GridInfo:
        """Georeferencing for the exports."""
        return self.prediction.grid

    @property
    def transform(self) -> Affine:
        """Affine transform of the inference grid."""
        return self.prediction.transform

    @property
    def crs(self) -> CRS | None:
        """CRS of the inference grid (as the engine read it), or ``None``."""
        return self.prediction.crs

    def statistics(self) -> dict[str, float | int]:
        """Per-class %, cloud %, valid pixels and nodata % (the engine's flat form, as in its JSON)."""
        return self.prediction.statistics.as_dict()

    def facts(self) -> dict[str, str]:
        """Run facts for the GeoTIFF tags (text) beside the engine's provenance tags."""
        return {"source": self.spec.label, "software": "ocm_studio app", "seconds": f"{self.seconds:.2f}",
                **self.provenance.as_tags(), **self.prediction.run.as_text()}


def run_prediction(spec: SceneSpec, options: RunOptions, ensemble: Ensemble, scene: Scene,
                   progress: Progress | None, inference: InferenceOptions) -> RunResult:
    """Predict a scene already read on its inference grid (shared by the pages).

    Raises:
        OcmError: No valid data, or a grid too small.
    """
    start = time.perf_counter()
    pred = predict_scene(scene, ensemble, inference, progress_callback=progress)
    return RunResult(spec, options, pred, time.perf_counter() - start)


def scene_outputs(result: RunResult) -> SceneOutputs:
    """The run as the engine's :class:`~ocm_engine.outputs.report.SceneOutputs` (download names as paths).

    The app's JSON download is written from it by the engine's one report writer, so it has the
    schema of ``ocm predict``'s ``*_ocm.json``.
    """
    pred = result.prediction
    spec = result.spec
    paths = OutputPaths(Path(download_name(spec, "classes.tif")),
                        Path(download_name(spec, "probabilities.tif")) if pred.probabilities is not None else None,
                        Path(download_name(spec, "mask.png")), Path(download_name(spec, "stats.json")))
    read = ReadOptions(sensor=spec.sensor, bands=spec.mapping, nodata=spec.nodata,
                       resolution_m=result.options.resolution_m)
    inference = result.options.inference(return_probabilities=pred.probabilities is not None)
    return SceneOutputs(paths, pred.statistics, result.provenance, pred.run, pred.warnings, spec.label,
                        result.seconds, inference, read, software="ocm_studio app")


def export_bytes(result: RunResult, folder: Path | None = None,
                 rgb: npt.NDArray[np.uint8] | None = None) -> dict[str, bytes]:
    """The downloads of a run: class GeoTIFF, probabilities GeoTIFF, PNG quick-look and JSON report.

    Files are written with the engine's writers (in a temporary folder) and returned as bytes;
    the JSON is the engine's report (:func:`ocm_engine.outputs.report.to_json`).
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
    out["stats.json"] = report_bytes(scene_outputs(result))
    return out


def download_name(spec: SceneSpec, suffix: str) -> str:
    """A safe download file name for a scene (letters, digits, ``-_.`` only)."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in spec.label)[:60].strip("_.") or "scene"
    return f"{stem}_ocm_{suffix}"
