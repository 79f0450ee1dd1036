"""What runs on a Dask worker: a per-process model cache and one scene's processing.

Only a :class:`SceneJob` (the model *source*, not the loaded models) crosses the network.
Each worker process loads the ensemble the first time it needs it and keeps it in the
engine's model cache (:mod:`ocm_engine.models.cache`), so models load once per worker
however many scenes it runs.
This module imports no Dask: the functions are plain and testable in-process.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from ocm_engine.batch.scenes import BandMap, BatchScene
from ocm_engine.errors import Frontend, OcmError, collect_warnings
from ocm_engine.models.cache import cached_ensemble
from ocm_engine.models.ensemble import Ensemble
from ocm_engine.options import InferenceOptions, ReadOptions, warn_legacy_keywords
from ocm_engine.outputs.report import OutputPaths, SceneOutputs, output_paths
from ocm_engine.pipeline import predict_file

SceneStatus = Literal["done", "skipped", "failed", "cancelled"]


@dataclass(frozen=True, slots=True, init=False)
class SceneJob:
    """Settings shared by every scene of a batch (small and picklable).

    Attributes:
        output_dir: Output folder, as the workers see it.
        model: Model source for :func:`ocm_engine.load_ensemble` (``"default"``,
            ``"official"`` or a weights file/folder the workers can read).
        read: Sensor, 1-based Red, Green, NIR positions, nodata and inference resolution
            (:class:`ReadOptions`); a scene's own sensor or bands override them
            (:meth:`BatchScene.read_options`).
        options: Patch, overlap, batch, device, dtype, TTA (:class:`InferenceOptions`); a
            ``None`` device means the worker's GPU (by worker index) or the CPU.
        probabilities: Also write probability GeoTIFFs.
        png: Also write PNG previews.
        overwrite: Redo scenes whose outputs are complete.
        torch_threads: CPU threads for torch in each worker (``None``: leave as is).
    """

    output_dir: str
    model: str = "default"
    read: ReadOptions = field(default_factory=ReadOptions)
    options: InferenceOptions = field(default_factory=InferenceOptions)
    probabilities: bool = False
    png: bool = True
    overwrite: bool = False
    torch_threads: int | None = None

    def __init__(self, output_dir: str, model: str = "default", read: ReadOptions | None = None,
                 options: InferenceOptions | None = None, probabilities: bool = False, png: bool = True,
                 overwrite: bool = False, torch_threads: int | None = None, *, sensor: str | None = None,
                 bands: BandMap | None = None, nodata: float | None = None,
                 resolution_m: float | None = None) -> None:
        """Build the job (the fields are documented on the class).

        ``sensor``, ``bands``, ``nodata`` and ``resolution_m`` are the fields the job had before
        ``read``; they still override ``read``'s, with a ``DeprecationWarning``, for one release.

        Raises:
            TypeError: ``read`` is not a :class:`ReadOptions` (the old positional layout put the
                sensor there).
        """
        if read is not None and not isinstance(read, ReadOptions):
            raise TypeError(f"SceneJob's third argument is read=ReadOptions(...), got {type(read).__name__} "
                            f"{read!r}: sensor, bands, nodata and resolution_m moved into ReadOptions.")
        legacy = {"sensor": sensor, "bands": bands, "nodata": nodata, "resolution_m": resolution_m}
        warn_legacy_keywords("SceneJob", legacy, "ReadOptions", "read")
        for name, value in (("output_dir", output_dir), ("model", model),
                            ("read", (read or ReadOptions()).replace(**legacy)),
                            ("options", options or InferenceOptions()), ("probabilities", probabilities),
                            ("png", png), ("overwrite", overwrite), ("torch_threads", torch_threads)):
            object.__setattr__(self, name, value)


@dataclass(frozen=True, slots=True)
class SceneResult:
    """What happened to one scene.

    Attributes:
        scene_id: The scene's id (its output stem).
        inputs: The scene's input paths.
        status: ``done`` (processed now), ``skipped`` (complete outputs existed),
            ``failed`` (see ``error``) or ``cancelled`` (the batch stopped first).
        output: The class GeoTIFF, when it exists.
        cloud_percent: Thick + thin cloud, % of valid pixels.
        cloud_shadow_percent: Cloud shadow, % of valid pixels.
        clear_percent: Clear, % of valid pixels.
        nodata_percent: Nodata, % of all pixels.
        seconds: Processing time (for skipped scenes: the time recorded when made).
        worker: The Dask worker that processed it.
        error: ``ExceptionType: message`` for failures, the message in a Python caller's
            words (see :meth:`describe` for another front end's).
        warnings: Engine warnings raised while processing.
        failure: The :class:`~ocm_engine.errors.OcmError` the scene failed with, rebuilt from its
            fields (it crosses the network with the result), so each front end can word it;
            ``None`` when the scene did not fail with one.
    """

    scene_id: str
    inputs: tuple[str, ...]
    status: SceneStatus
    output: str | None = None
    cloud_percent: float | None = None
    cloud_shadow_percent: float | None = None
    clear_percent: float | None = None
    nodata_percent: float | None = None
    seconds: float = 0.0
    worker: str = ""
    error: str = ""
    warnings: tuple[str, ...] = ()
    failure: OcmError | None = field(default=None, compare=False, repr=False)

    def describe(self, frontend: Frontend = "python") -> str:
        """Why the scene failed, in the words of ``frontend`` (``""`` when it did not fail).

        ``describe()`` is :attr:`error`; ``describe("cli")`` words the fix advice of an
        :class:`~ocm_engine.errors.OcmError` in flags (what ``ocm batch`` prints).
        """
        if self.failure is None:
            return self.error
        return f"{type(self.failure).__name__}: {self.failure.describe(frontend)}"


def failed_result(scene: BatchScene, err: BaseException, *, text: str = "", seconds: float = 0.0,
                  worker: str = "") -> SceneResult:
    """A ``failed`` result that keeps ``err`` (when it is an :class:`OcmError`) for each front end to word.

    Args:
        scene: The scene.
        err: What it failed with.
        text: The :attr:`SceneResult.error` text (default: ``ExceptionType: message``).
        seconds: Time spent on it.
        worker: The worker that ran it.
    """
    return SceneResult(scene.scene_id, scene.inputs, "failed", seconds=seconds, worker=worker,
                       error=text or f"{type(err).__name__}: {err}", failure=_portable(err))


def _portable(err: BaseException) -> OcmError | None:
    """``err`` rebuilt from its message and fields, without traceback or cause (no frames kept alive).

    Built from :meth:`OcmError.__reduce__` itself, not by pickling, since Dask installs tblib's
    reducers, which would carry the traceback and the whole cause chain along.

    Returns:
        The copy; ``None`` for other errors, and for an error whose fields do not pickle (the
        result's text stays).
    """
    if not isinstance(err, OcmError):
        return None
    rebuild, args = err.__reduce__()[:2]
    copy: OcmError = rebuild(*args)
    try:
        pickle.dumps(copy)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None
    return copy


def scene_outputs(scene: BatchScene, job: SceneJob) -> OutputPaths:
    """The output files of a scene under a job's settings."""
    return output_paths(scene.scene_id, Path(job.output_dir), job.probabilities, job.png)


def is_complete(paths: OutputPaths) -> bool:
    """Whether a scene's outputs are all there (the JSON is written last, so it marks completion)."""
    if not all(p.is_file() for p in paths.all()):
        return False
    try:
        json.loads(paths.stats.read_text())
    except (OSError, ValueError):
        return False
    return True


def completed_result(scene: BatchScene, paths: OutputPaths, status: SceneStatus = "skipped",
                     worker: str = "", notes: tuple[str, ...] = ()) -> SceneResult:
    """A result built from the statistics JSON of a scene completed earlier (a skipped scene)."""
    data: dict[str, Any] = json.loads(paths.stats.read_text())
    seconds = float(data.get("run", {}).get("seconds", 0.0) or 0.0)
    return completed_result_of(scene, paths, data.get("statistics", {}), seconds, status, worker, notes)


def _pct(stats: dict[str, Any], key: str) -> float | None:
    value = stats.get(key)
    return None if value is None else round(float(value), 4)


def outputs_result(scene: BatchScene, outputs: SceneOutputs, worker: str = "",
                   notes: tuple[str, ...] = ()) -> SceneResult:
    """A ``done`` result from the value :func:`~ocm_engine.predict_file` returned (no file read back)."""
    return completed_result_of(scene, outputs.paths, outputs.statistics.as_dict(), outputs.seconds,
                               "done", worker, notes)


def completed_result_of(scene: BatchScene, paths: OutputPaths, stats: dict[str, Any], seconds: float,
                        status: SceneStatus, worker: str, notes: tuple[str, ...]) -> SceneResult:
    """A result from a scene's flat statistics (:meth:`ClassStatistics.as_dict` or the JSON's)."""
    return SceneResult(
        scene.scene_id, scene.inputs, status, str(paths.classes),
        _pct(stats, "cloud_percent"), _pct(stats, "cloud_shadow_percent"),
        _pct(stats, "clear_percent"), _pct(stats, "nodata_percent"), round(seconds, 3), worker, "", notes,
    )


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return f"pid{os.getpid()}"


def worker_device(requested: str | None) -> str | None:
    """The device for this worker: the requested one, else GPU ``index % count``, else ``None``.

    ``LocalCluster`` names its workers 0, 1, ..., so worker *i* takes GPU *i* (one GPU per
    worker); a worker of an existing cluster that sees one GPU takes that one.
    """
    if requested is not None:
        return requested
    import torch

    count = torch.cuda.device_count()
    if count == 0:
        return None
    name = _worker_name()
    index = int(name) if name.isdigit() else 0
    return f"cuda:{index % count}"


def worker_ensemble(model: str, device: str | None, dtype: str | None,
                    torch_threads: int | None = None, backend: str = "auto") -> Ensemble:
    """This process's ensemble for ``(model, device, dtype, backend)`` from the engine's model cache.

    One load (and, for a compiled backend, one compilation at this worker's thread count)
    per worker process, reused for every scene.
    """
    if torch_threads:
        import torch

        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)
    return cached_ensemble(model, device=device, dtype=dtype, backend=backend)


def process_scene(scene: BatchScene, job: SceneJob) -> SceneResult:
    """Mask one scene on this worker; never raises for a bad scene.

    Complete outputs are skipped unless ``job.overwrite``. Incomplete ones (a class GeoTIFF
    without its JSON) are redone; partial files of dead writers are removed by the writers.

    Args:
        scene: The scene.
        job: The batch's settings.

    Returns:
        The scene's result; failures carry the exception type and message, and the
        :class:`~ocm_engine.errors.OcmError` itself (:attr:`SceneResult.failure`).
    """
    start = time.perf_counter()
    worker = _worker_name()
    paths = scene_outputs(scene, job)
    if not job.overwrite and is_complete(paths):
        return completed_result(scene, paths, "skipped", worker)
    try:
        with collect_warnings() as caught:
            device = worker_device(job.options.device)
            ensemble = worker_ensemble(job.model, device, job.options.dtype, job.torch_threads,
                                       job.options.backend)
            outputs = predict_file(
                scene.source, job.output_dir, read=scene.read_options(job.read), ensemble=ensemble,
                options=replace(job.options, device=None, dtype=None), probabilities=job.probabilities,
                png=job.png, overwrite=True, progress=False, stem=scene.scene_id,
            )
        notes = tuple(dict.fromkeys(str(w) for w in caught))
        result = outputs_result(scene, outputs, worker, notes)
    except Exception as err:  # one scene's failure must not stop the batch: report it
        return failed_result(scene, err, seconds=round(time.perf_counter() - start, 3), worker=worker)
    return replace(result, seconds=round(time.perf_counter() - start, 3))
