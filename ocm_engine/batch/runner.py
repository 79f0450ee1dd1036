"""Run a batch of scenes on Dask distributed and write its summary.

The client side only lists scenes, skips complete ones, submits one task per remaining
scene (:func:`ocm_engine.batch.worker.process_scene`) and collects results as they finish.
Dask does the distribution: a ``LocalCluster`` by default (one process per worker, one
scene at a time per worker, one GPU per worker when there are GPUs), or an existing
cluster by scheduler address or :class:`distributed.Client`. When a worker dies, Dask
re-runs its scene elsewhere (``distributed.scheduler.allowed-failures`` times); outputs
appear atomically, so a re-run scene never leaves duplicates or half-written files, and a
rerun of the batch skips every scene whose outputs are complete.
"""

from __future__ import annotations

import contextlib
import csv
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ocm_engine.batch.scenes import BandMap, BatchScene, resolve_scenes
from ocm_engine.batch.worker import (
    SceneJob,
    SceneResult,
    completed_result,
    failed_result,
    is_complete,
    process_scene,
    scene_outputs,
)
from ocm_engine.errors import BatchError, Frontend, Hints, ModelLoadError
from ocm_engine.options import InferenceOptions, ReadOptions, warn_legacy_keywords
from ocm_engine.outputs.atomic import atomic_path, write_json

SUMMARY_NAME = "ocm_batch_summary"
SUMMARY_FIELDS = (
    "scene_id", "status", "cloud_percent", "cloud_shadow_percent", "clear_percent", "nodata_percent",
    "seconds", "worker", "output", "inputs", "error", "warnings",
)
#: ``on_scene(result, finished, total)``: called on the client as each scene finishes.
SceneCallback = Callable[[SceneResult, int, int], None]


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of :func:`run_batch`.

    Attributes:
        scenes: One result per scene, in list order.
        output_dir: The output folder.
        summary_csv: Per-scene summary (cloud %, time, status, error).
        summary_json: The same plus the batch's settings.
        dashboard_link: The Dask dashboard, when one was served.
        seconds: Wall time of the batch.
    """

    scenes: tuple[SceneResult, ...]
    output_dir: Path
    summary_csv: Path
    summary_json: Path
    dashboard_link: str | None
    seconds: float

    @property
    def done(self) -> tuple[SceneResult, ...]:
        """Scenes processed in this run."""
        return tuple(r for r in self.scenes if r.status == "done")

    @property
    def skipped(self) -> tuple[SceneResult, ...]:
        """Scenes whose complete outputs already existed."""
        return tuple(r for r in self.scenes if r.status == "skipped")

    @property
    def failed(self) -> tuple[SceneResult, ...]:
        """Scenes that failed or were cancelled (rerun the batch to retry them)."""
        return tuple(r for r in self.scenes if r.status in ("failed", "cancelled"))

    @property
    def ok(self) -> bool:
        """Whether every scene has complete outputs."""
        return not self.failed


def local_cluster_size(n_workers: int | None, device: str | None, n_scenes: int) -> tuple[int, int]:
    """Workers and torch threads per worker for a ``LocalCluster``.

    One worker per GPU when GPUs are used, else one per 4 cores; never more workers than
    scenes; the cores are shared out as torch threads.

    Args:
        n_workers: Requested workers (``None``: sized to GPUs/cores).
        device: The batch's device (``None``: GPUs when present).
        n_scenes: Scenes to process.

    Returns:
        ``(workers, torch_threads_per_worker)``.
    """
    import torch

    cores = os.cpu_count() or 1
    use_gpu = device is None or device.startswith("cuda")
    gpus = torch.cuda.device_count() if use_gpu else 0
    workers = n_workers if n_workers is not None else (gpus or max(1, cores // 4))
    workers = max(1, min(workers, n_scenes))
    return workers, max(1, cores // workers)


@contextlib.contextmanager
def _connect(scheduler: Any, n_workers: int | None, device: str | None,
             n_scenes: int) -> Iterator[tuple[Any, int | None]]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:
        raise BatchError("Dask distributed", arrived="not installed", expected="installed (batches run on it)",
                         hints=Hints.same("Install it: pip install 'dask[distributed]'.")) from err
    if isinstance(scheduler, Client):
        yield scheduler, None
        return
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="20s")  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as err:
            start = ("Start one with `dask scheduler` and `dask worker ADDRESS` on each machine (with "
                     "ocm_engine installed), or ")
            raise BatchError(
                f"Dask scheduler {scheduler}", arrived=f"no connection ({err})",
                expected="a scheduler that answers within 20 s",
                hints=Hints(python=f"{start}pass scheduler=None to run on a local cluster.",
                            cli=f"{start}leave --scheduler out to run on a local cluster.",
                            app=f"{start}leave the scheduler out to run on a local cluster."),
            ) from err
        with client:
            yield client, None
        return
    workers, threads = local_cluster_size(n_workers, device, n_scenes)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)  # type: ignore[no-untyped-call]
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client, threads


def _dashboard(client: Any) -> str | None:
    try:
        services = client.scheduler_info().get("services", {})
        link = str(client.dashboard_link)
    except (AttributeError, KeyError, OSError):
        return None
    return link if "dashboard" in services and link else None


def _failure(scene: BatchScene, err: BaseException) -> SceneResult:
    if type(err).__name__ == "KilledWorker":
        return failed_result(scene, err, text=(
            "KilledWorker: every worker that ran this scene died (a crash, or out of memory); "
            "see the worker logs. The other scenes went on; rerun the batch to retry it."))
    return failed_result(scene, err)


def _summary_row(result: SceneResult, frontend: Frontend) -> dict[str, Any]:
    """A result's summary fields (the error in ``frontend``'s words; the error object left out)."""
    row = {f.name: getattr(result, f.name) for f in fields(result) if f.name != "failure"}
    row["inputs"] = list(result.inputs)
    row["warnings"] = list(result.warnings)
    row["error"] = result.describe(frontend)
    return row


def write_summary(results: Sequence[SceneResult], output_dir: Path, name: str = SUMMARY_NAME,
                  batch: dict[str, Any] | None = None, frontend: Frontend = "python") -> tuple[Path, Path]:
    """Write the per-scene summary CSV and JSON, atomically.

    Args:
        results: The scene results.
        output_dir: Folder to write in.
        name: File-name stem of both files.
        batch: Batch-level facts for the JSON.
        frontend: Whose words the errors' fix advice is in (see :meth:`SceneResult.describe`).

    Returns:
        ``(csv_path, json_path)``.
    """
    csv_path, json_path = output_dir / f"{name}.csv", output_dir / f"{name}.json"
    rows = [_summary_row(r, frontend) for r in results]
    with atomic_path(csv_path, overwrite=True) as partial, partial.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SUMMARY_FIELDS)
        for row in rows:
            flat = {**row, "inputs": ";".join(row["inputs"]), "warnings": " | ".join(row["warnings"])}
            writer.writerow(["" if flat[f] is None else flat[f] for f in SUMMARY_FIELDS])
    write_json(json_path, {"batch": batch or {}, "scenes": rows}, overwrite=True)
    return csv_path, json_path


def _band_map(bands: Sequence[int | None] | None) -> BandMap | None:
    if bands is None:
        return None
    values = [*bands, None, None][:3]
    return values[0], values[1], values[2]


def run_batch(
    scenes: str | Path | BatchScene | Iterable[str | Path | BatchScene],
    output_dir: str | Path,
    *,
    model: str | Path = "default",
    read: ReadOptions | None = None,
    options: InferenceOptions | None = None,
    scheduler: Any = None,
    n_workers: int | None = None,
    device: str | None = None,
    dtype: str | None = None,
    probabilities: bool = False,
    png: bool = True,
    overwrite: bool = False,
    stac_assets: Sequence[str] | None = None,
    progress: bool = True,
    on_scene: SceneCallback | None = None,
    summary_name: str = SUMMARY_NAME,
    frontend: Frontend = "python",
    sensor: str | None = None,
    bands: Sequence[int | None] | None = None,
    nodata: float | None = None,
    resolution_m: float | None = None,
    patch_px: int | None = None,
    overlap_px: int | None = None,
    batch_size: int | None = None,
) -> BatchResult:
    """Mask many scenes on Dask distributed: one set of outputs per scene, plus a summary.

    Resumable and idempotent: scenes with complete outputs are skipped (``overwrite``
    redoes them); a scene's failure is recorded in its result and the summary and the
    other scenes go on.

    Args:
        scenes: Raster paths, band-file folders, globs, a CSV or STAC JSON file, remote hrefs
            or :class:`BatchScene` objects (see :func:`resolve_scenes`).
        output_dir: Output folder; workers must see it at the same path (shared disk).
        model: Model source every worker loads once: ``"default"``, ``"official"`` or a
            weights file/folder readable by the workers (not a loaded ``Ensemble``).
        read: Sensor, 1-based Red, Green, NIR positions, nodata and inference resolution
            (:class:`~ocm_engine.options.ReadOptions`); a scene's own sensor or bands override them.
        options: Patch, overlap, batch, device, dtype, TTA (see :class:`InferenceOptions`).
        scheduler: ``None`` (a ``LocalCluster``), a scheduler address such as
            ``"tcp://10.0.0.5:8786"``, or a ``distributed.Client``.
        n_workers: Local workers (default: one per GPU, else one per 4 cores).
        device: Overrides ``options.device`` (default: each worker's GPU, else the CPU).
        dtype: Overrides ``options.dtype`` (``"fp32"``, ``"fp16"``, ``"bf16"``).
        probabilities: Also write probability GeoTIFFs.
        png: Also write PNG previews.
        overwrite: Redo scenes whose outputs are complete.
        stac_assets: STAC asset key(s): one multiband key, or Red, Green[, NIR] keys.
        progress: Show a progress bar and the dashboard link on stderr.
        on_scene: ``on_scene(result, finished, total)``, called as each scene finishes.
        summary_name: File-name stem of the summary CSV and JSON.
        frontend: Whose words the fix advice of scene errors is in, on stderr and in the
            summary (``"cli"`` for ``ocm batch``); the results keep the errors themselves
            (:attr:`SceneResult.failure`, :meth:`SceneResult.describe`).
        sensor: Deprecated (pass ``read=ReadOptions(sensor=...)``); overrides ``read.sensor``
            with a ``DeprecationWarning`` for one release. So do the three below.
        bands: Deprecated: ``read=ReadOptions(bands=...)``.
        nodata: Deprecated: ``read=ReadOptions(nodata=...)``.
        resolution_m: Deprecated: ``read=ReadOptions(resolution_m=...)``.
        patch_px: Deprecated (pass ``options=InferenceOptions(patch_px=...)``); overrides
            ``options.patch_px`` with a ``DeprecationWarning`` for one release. So do the two below.
        overlap_px: Deprecated: ``options=InferenceOptions(overlap_px=...)``.
        batch_size: Deprecated: ``options=InferenceOptions(batch_size=...)``.

    Returns:
        The per-scene results and the summary paths.

    Raises:
        SceneListError: The scene list cannot be read.
        ModelLoadError: ``model`` is not a source the workers can load.
        BatchError: Dask is missing or the scheduler cannot be reached.
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    if not isinstance(model, str | Path):
        raise ModelLoadError(
            "Batch model", arrived=f"an object of type {type(model).__name__}",
            expected="a model source: 'default', 'official' or a weights path",
            hints=Hints.same("Each worker loads the models once itself, so loaded models are not sent over "
                             "the network: give their source."),
        )
    out = Path(output_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    scene_list = resolve_scenes(scenes, stac_assets=stac_assets)
    legacy_read = {"sensor": sensor, "bands": _band_map(bands), "nodata": nodata, "resolution_m": resolution_m}
    legacy_inference = {"patch_px": patch_px, "overlap_px": overlap_px, "batch_size": batch_size}
    warn_legacy_keywords("run_batch", legacy_read, "ReadOptions", "read")
    warn_legacy_keywords("run_batch", legacy_inference, "InferenceOptions", "options")
    # device and dtype stay keywords: "each worker's GPU" is a batch choice, not an option value
    opts = (options or InferenceOptions()).replace(**legacy_inference, device=device, dtype=dtype)
    how = (read or ReadOptions()).replace(**legacy_read)
    job = SceneJob(str(out), str(model), read=how, options=opts, probabilities=probabilities, png=png,
                   overwrite=overwrite)
    results: dict[str, SceneResult] = {}
    todo: list[BatchScene] = []
    for scene in scene_list:
        paths = scene_outputs(scene, job)
        if not overwrite and is_complete(paths):
            results[scene.scene_id] = completed_result(scene, paths)
        else:
            todo.append(scene)
    total = len(scene_list)
    bar = tqdm(total=total, initial=len(results), desc="ocm batch", unit="scene", disable=not progress,
               file=sys.stderr)
    if on_scene is not None:
        for i, r in enumerate(results.values(), start=1):
            on_scene(r, i, total)
    link: str | None = None
    address = ""
    try:
        if todo:
            link, address = _run(todo, job, scheduler, n_workers, results, bar, on_scene, total, frontend)
    finally:
        bar.close()
        ordered = tuple(results.get(s.scene_id) or SceneResult(s.scene_id, s.inputs, "cancelled",
                                                               error="the batch stopped first")
                        for s in scene_list)
        facts = {
            "output_dir": str(out), "model": str(model), "sensor": sensor or "",
            "scheduler": address, "scenes": total, "seconds": round(time.perf_counter() - start, 3),
            **{status: sum(r.status == status for r in ordered)
               for status in ("done", "skipped", "failed", "cancelled")},
        }
        csv_path, json_path = write_summary(ordered, out, summary_name, facts, frontend)
    return BatchResult(ordered, out, csv_path, json_path, link, round(time.perf_counter() - start, 3))


def _run(todo: list[BatchScene], job: SceneJob, scheduler: Any, n_workers: int | None,
         results: dict[str, SceneResult], bar: Any, on_scene: SceneCallback | None,
         total: int, frontend: Frontend = "python") -> tuple[str | None, str]:
    from distributed import as_completed

    with _connect(scheduler, n_workers, job.options.device, len(todo)) as (client, threads):
        job = replace(job, torch_threads=threads)
        link = _dashboard(client)
        address = str(client.scheduler.address)
        if not bar.disable:
            bar.write(f"Dask dashboard: {link}" if link else
                      f"Dask scheduler: {address} (install bokeh for the dashboard)", file=sys.stderr)
        run_id = uuid.uuid4().hex[:8]
        futures = {
            client.submit(process_scene, scene, job, key=f"ocm-scene-{scene.scene_id}-{run_id}",
                          pure=False): scene
            for scene in todo
        }
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            scene = futures[future]
            try:
                result: SceneResult = future.result()
            except Exception as err:  # KilledWorker, lost scheduler...: this scene only
                result = _failure(scene, err)
            future.release()
            results[scene.scene_id] = result
            bar.update(1)
            if result.status == "failed" and not bar.disable:
                bar.write(f"failed: {scene.scene_id}: {result.describe(frontend)}", file=sys.stderr)
            if on_scene is not None:
                on_scene(result, len(results), total)
    return link, address
