"""File to file: read a scene, infer at a chosen resolution, write georeferenced outputs.

The scene is processed in blocks of the inference grid (one block for scenes up to
``block_px`` on a side), each read with a halo of half a patch so block seams get
the same context as patch seams. Class maps go back to the source grid, and every
output appears atomically when complete.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from ocm_engine import metrics
from ocm_engine.constants import (
    CLASS_NAMES,
    MIN_PATCH_PX,
    MIN_RESOLUTION_M,
    NUM_CLASSES,
    OUTPUT_NODATA,
)
from ocm_engine.display import scene_rgb
from ocm_engine.errors import ImageTooSmallError, NoValidDataError, OutputExistsError
from ocm_engine.export import (
    GridInfo,
    atomic_path,
    check_writable,
    class_profile,
    finish_class_dataset,
    probability_profile,
    stats_tags,
    write_json,
    write_png,
)
from ocm_engine.inference import ProgressCallback, predict_scene
from ocm_engine.io.readers import SceneSource
from ocm_engine.io.scene import SceneReader
from ocm_engine.models.ensemble import Ensemble
from ocm_engine.normalize import valid_mask
from ocm_engine.options import InferenceOptions
from ocm_engine.provenance import WEIGHTS_FACTS, WeightsIdentity
from ocm_engine.resolution import nearest_index
from ocm_engine.types import DtypeName

DEFAULT_BLOCK_PX = 12288
PREVIEW_MAX_PX = 2048


@dataclass(frozen=True, slots=True)
class OutputPaths:
    """Where one scene's outputs go."""

    classes: Path
    probabilities: Path | None
    png: Path | None
    stats: Path

    def all(self) -> list[Path]:
        """Every path that will be written."""
        return [p for p in (self.classes, self.probabilities, self.png, self.stats) if p]


def scene_stem(source: SceneSource) -> str:
    """A file-name stem for a scene: the file's stem, or the band files' common prefix."""
    raw = list(source) if isinstance(source, list | tuple) else [source]
    items = [i[0] if isinstance(i, tuple) else i for i in raw if i is not None]
    items = list(dict.fromkeys(str(i) if isinstance(i, Path) else i for i in items))
    names = [Path(i).stem for i in items if isinstance(i, str | Path)]
    if not names:
        return "upload"
    if len(names) == 1:
        return names[0]
    prefix = Path(names[0]).stem
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    prefix = re.sub(r"[_\-. ]*B?\d*$", "", prefix, flags=re.IGNORECASE)
    if len(prefix) < 3:
        return Path(str(items[0])).parent.name or "scene"
    return prefix


def preview_title(source: SceneSource, reader: SceneReader) -> str:
    """The quick-look's title: the scene's name and the bands the model read.

    A folder of band files is named by their common stem (not by the first file listed, which
    may be an unused thermal band), followed by the files or band numbers actually used.
    """
    used = [b for b in reader.band_sources() if b.role != "blue"]
    if reader.source.file_count > 1:
        bands = ", ".join(f"{b.role.upper() if b.role == 'nir' else b.role.title()} "
                          f"{b.name or Path(b.file).name}" for b in used)
        return f"{scene_stem(source)} ({bands})"
    bands = ", ".join(f"{b.role.upper() if b.role == 'nir' else b.role.title()} "
                      f"{b.name or f'band {b.band}'}" for b in used)
    return f"{reader.source.name} ({bands})"


def output_paths(stem: str, output_dir: Path, probabilities: bool, png: bool) -> OutputPaths:
    """The output files for a scene stem."""
    base = output_dir / f"{stem}_ocm"
    return OutputPaths(
        base.with_suffix(".tif"),
        base.with_name(base.name + "_probabilities.tif") if probabilities else None,
        base.with_suffix(".png") if png else None,
        base.with_suffix(".json"),
    )


def _blocks(height: int, width: int, block_px: int) -> list[Window]:
    return [
        Window(col, row, min(block_px, width - col), min(block_px, height - row))
        for row in range(0, height, block_px)
        for col in range(0, width, block_px)
    ]


def predict_file(
    path: SceneSource,
    output_dir: str | Path,
    *,
    sensor: str | None = None,
    bands: Sequence[int | None] | None = None,
    nodata: float | None = None,
    resolution_m: float | None = None,
    ensemble: Ensemble | None = None,
    options: InferenceOptions | None = None,
    patch_px: int | None = None,
    overlap_px: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    dtype: DtypeName | str | None = None,
    probabilities: bool = False,
    png: bool = True,
    overwrite: bool = False,
    progress: bool = False,
    progress_callback: ProgressCallback | None = None,
    block_px: int = DEFAULT_BLOCK_PX,
    stem: str | None = None,
) -> Path:
    """Mask one scene and write its outputs.

    Built on :class:`~ocm_engine.io.scene.SceneReader` (``read_scene`` one block at a time)
    and :func:`~ocm_engine.inference.predict_scene`.

    Args:
        path: A raster file, its bytes, a sequence of single-band files, or ``(file, band)``
            pairs (see :func:`~ocm_engine.read_scene`).
        output_dir: Folder for the outputs (created if needed).
        sensor: Sensor preset key (see ``ocm sensors``).
        bands: Explicit 1-based Red, Green, NIR band (or file) numbers.
        nodata: Nodata value (else the file's, else the preset's, else 0).
        resolution_m: Inference resolution in metres (default: the source's, at least 10 m).
        ensemble: The models (default: the embedded ensemble).
        options: Patch, overlap, batch, device, dtype, TTA (see :class:`InferenceOptions`).
        patch_px: Overrides ``options.patch_px`` (kept for existing callers).
        overlap_px: Overrides ``options.overlap_px``.
        batch_size: Overrides ``options.batch_size``.
        device: Overrides ``options.device``.
        dtype: Overrides ``options.dtype``.
        probabilities: Also write the 4-band probability GeoTIFF.
        png: Also write a PNG preview.
        overwrite: Replace existing outputs.
        progress: Show a progress bar.
        progress_callback: ``callback(done_patches, total_patches)``.
        block_px: Largest block of the inference grid processed at once.
        stem: Output file-name stem (default: from the input name).

    Returns:
        The class GeoTIFF's path. Beside it: ``*_ocm.json`` statistics and provenance, and
        optionally ``*_ocm_probabilities.tif`` and ``*_ocm.png``.

    Raises:
        OcmError: Subclasses for unreadable input, bad mapping or resolution, no valid
            data, or existing outputs.
    """
    start = time.perf_counter()
    opts = (options or InferenceOptions()).replace(
        patch_px=patch_px, overlap_px=overlap_px, batch_size=batch_size, device=device,
        dtype=dtype, return_probabilities=probabilities,
    )
    out_dir = Path(output_dir)
    paths = output_paths(stem or scene_stem(path), out_dir, probabilities, png)
    _check_outputs(paths, overwrite)
    band_list = None if bands is None else list(bands)
    with SceneReader(path, sensor=sensor, bands=band_list, nodata=nodata, resolution_m=resolution_m) as reader:
        reader.emit_warnings(stacklevel=2)
        src = reader.source
        run = _Run(reader, ensemble, opts, progress, progress_callback, block_px)
        _check_grid(reader)
        grid = GridInfo(src.width, src.height, src.transform, src.crs)
        # Every output is written to a partial file and moved into place only when all are
        # complete. The stack unwinds last-in first-out, so the JSON (entered first) is moved
        # last: a scene whose JSON exists is complete.
        with contextlib.ExitStack() as stack:
            json_tmp = stack.enter_context(atomic_path(paths.stats, overwrite))
            class_tmp = stack.enter_context(atomic_path(paths.classes, overwrite))
            prob_tmp = (
                stack.enter_context(atomic_path(paths.probabilities, overwrite))
                if paths.probabilities else None
            )
            png_tmp = stack.enter_context(atomic_path(paths.png, overwrite)) if paths.png else None
            stats = run.execute(class_tmp, prob_tmp, grid)
            if stats.valid_pixels == 0:
                raise NoValidDataError(
                    f"Every pixel of {src.name} is nodata (nodata={src.nodata!r} or NaN). Check "
                    "the nodata value and band mapping."
                )
            provenance = reader.read_provenance().with_model(run.model, run.model_version, run.weights)
            facts: dict[str, str] = {"model": run.model, "source": src.name, "software": "ocm_engine",
                                     **provenance.as_tags(), **run.extra}
            with rasterio.open(class_tmp, "r+") as dst:
                finish_class_dataset(dst, stats_tags(stats, facts))
            if png_tmp is not None:
                _write_preview(class_tmp, png_tmp, scene_rgb(reader.read_overview(PREVIEW_MAX_PX)),
                               preview_title(path, reader))
            run_facts: dict[str, object] = {
                "model": run.model, "source": src.name, "software": "ocm_engine",
                "seconds": round(time.perf_counter() - start, 3),
                "options": opts.as_dict(), "device": run.extra.get("device", ""),
                "dtype": run.extra.get("dtype", ""), "batch_size": _int(run.extra.get("batch_size")),
                "patch_px": _int(run.extra.get("patch_px")), "overlap_px": _int(run.extra.get("overlap_px")),
                "sensor": sensor or "",
                "inference_resolution_m": provenance.as_dict()["inference_resolution_m"],
                "source_resolution_m": provenance.as_dict()["source_resolution_m"],
            }
            write_json(json_tmp, {"statistics": stats.as_dict(), "run": run_facts,
                                  "provenance": provenance.as_dict(),
                                  "warnings": [f"{type(w).__name__}: {w}" for w in reader.warnings],
                                  "outputs": [str(p) for p in paths.all()]}, overwrite=True)
    return paths.classes


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _check_outputs(paths: OutputPaths, overwrite: bool) -> None:
    """Refuse to replace existing outputs unless ``overwrite``; name interrupted runs as such."""
    if overwrite:
        return
    existing = [p for p in paths.all() if p.exists()]
    if not existing:
        return
    if paths.stats.exists():
        check_writable(existing[0], overwrite)
    names = ", ".join(p.name for p in existing)
    raise OutputExistsError(
        f"{existing[0]} already exists, but {paths.stats.name} does not: the outputs ({names}) "
        "are incomplete, probably from an interrupted run. Pass overwrite=True (CLI: "
        "--overwrite) to redo the scene, or delete them."
    )


def _check_grid(reader: SceneReader) -> None:
    """Explain an inference grid too small for the models in terms of the file and resolution."""
    if min(reader.height, reader.width) >= MIN_PATCH_PX:
        return
    src = reader.source
    source_m, chosen = src.resolution_m, reader.resolution_m
    if reader.factor == 1.0:
        hint = "Use a larger extent, or pad the image with nodata."
    else:
        hint = (f"Choose a finer --resolution (at least {max(source_m, MIN_RESOLUTION_M):.4g} m), "
                "or use a larger extent.")
    size = f"{src.name} is {src.height} x {src.width} px"
    if reader.factor != 1.0:
        size += (f" at {source_m:.4g} m, which is {reader.height} x {reader.width} px at the "
                 f"{chosen:.4g} m inference resolution")
    raise ImageTooSmallError(
        f"{size}; the models need at least {MIN_PATCH_PX} px on each side (about 96 px for good "
        f"accuracy). {hint}"
    )


def _write_preview(class_path: Path, png_path: Path, rgb: npt.NDArray[np.uint8], title: str) -> None:
    """The quick-look: the scene's colours beside the mask read back from the class file."""
    with rasterio.open(class_path) as ds:
        scale = max(ds.width, ds.height) / PREVIEW_MAX_PX
        shape = (max(1, round(ds.height / max(scale, 1))), max(1, round(ds.width / max(scale, 1))))
        data = ds.read(1, out_shape=shape, resampling=Resampling.nearest)
    valid = data != ds.nodata
    write_png(png_path, np.where(valid, data, 0).astype(np.uint8), valid, rgb=rgb, title=title, overwrite=True)


class _Run:
    """One scene's block loop: read a block of the inference grid, predict it, write it back."""

    def __init__(self, reader: SceneReader, ensemble: Ensemble | None, options: InferenceOptions,
                 progress: bool, callback: ProgressCallback | None, block_px: int) -> None:
        self.reader = reader
        self.src = reader.source
        self.factor = reader.factor
        self.ensemble = ensemble
        self.options = options
        self.progress = progress
        self.callback = callback
        self.inf_h, self.inf_w = reader.height, reader.width
        self.block_px = block_px
        self.halo = options.patch_px // 2
        self.model = ""
        self.model_version = ""
        self.weights = WeightsIdentity()
        self.extra: dict[str, str] = {}

    def execute(self, class_tmp: Path, prob_tmp: Path | None, grid: GridInfo) -> metrics.ClassStatistics:
        stats = metrics.statistics_from_counts([0] * NUM_CLASSES, 0, 0)
        blocks = _blocks(self.inf_h, self.inf_w, self.block_px)
        with contextlib.ExitStack() as stack:
            dst = stack.enter_context(rasterio.open(class_tmp, "w", **class_profile(grid)))
            pdst = (stack.enter_context(rasterio.open(prob_tmp, "w", **probability_profile(grid)))
                    if prob_tmp else None)
            if pdst is not None:
                for i, name in enumerate(CLASS_NAMES, start=1):
                    pdst.set_band_description(i, f"probability_{name}")
            for index, core in enumerate(blocks):
                classes, probs, valid, out_win = self._block(core, pdst is not None, index, len(blocks))
                dst.write(np.where(valid, classes, OUTPUT_NODATA).astype(np.uint8), 1, window=out_win)
                if pdst is not None and probs is not None:
                    pdst.write(np.where(valid[None], probs, np.float32(np.nan)), window=out_win)
                stats = stats + metrics.class_statistics(classes, valid)
        return stats

    def _block(self, core: Window, want_probs: bool, index: int, total: int) -> tuple[
            np.ndarray, np.ndarray | None, np.ndarray, Window]:
        halo = self.halo if total > 1 else 0
        top = max(0, int(core.row_off) - halo)
        left = max(0, int(core.col_off) - halo)
        bottom = min(self.inf_h, int(core.row_off + core.height) + halo)
        right = min(self.inf_w, int(core.col_off + core.width) + halo)
        # a thin last block still gets full-size patches: extend it inwards
        patch = self.options.patch_px
        top = max(0, min(top, bottom - patch))
        left = max(0, min(left, right - patch))
        f = self.factor
        scene = self.reader.read(Window(left, top, right - left, bottom - top), blue=False)

        def report(done: int, count: int) -> None:
            if self.callback is not None:
                self.callback(index * count + done, total * count)

        try:
            pred = predict_scene(scene, self.ensemble, self.options.replace(return_probabilities=want_probs),
                                 progress=self.progress, progress_callback=report)
            self.model, self.extra = pred.model, dict(pred.extra)
            self.model_version = self.extra.pop("model_version", "")
            self.weights = WeightsIdentity.from_facts(self.extra)
            for key in WEIGHTS_FACTS:  # carried by the provenance (OCM_WEIGHTS_* tags, JSON "weights")
                self.extra.pop(key, None)
            classes_inf, probs_inf = pred.classes, pred.probabilities
        except NoValidDataError:
            classes_inf = np.zeros(scene.shape, dtype=np.uint8)
            probs_inf = np.zeros((NUM_CLASSES, *scene.shape), np.float32) if want_probs else None
        r0, c0 = int(core.row_off) - top, int(core.col_off) - left
        classes_inf = classes_inf[r0 : r0 + int(core.height), c0 : c0 + int(core.width)]
        if probs_inf is not None:
            probs_inf = probs_inf[:, r0 : r0 + int(core.height), c0 : c0 + int(core.width)]
        # back to the source grid
        s_top = round(int(core.row_off) * f)
        s_left = round(int(core.col_off) * f)
        s_bottom = self.src.height if core.row_off + core.height >= self.inf_h else round(
            int(core.row_off + core.height) * f)
        s_right = self.src.width if core.col_off + core.width >= self.inf_w else round(
            int(core.col_off + core.width) * f)
        out_win = Window(s_left, s_top, s_right - s_left, s_bottom - s_top)
        if f == 1.0:
            native = scene.data[:, r0 : r0 + int(core.height), c0 : c0 + int(core.width)]
            return classes_inf, probs_inf, valid_mask(native, self.src.nodata), out_win
        rows = nearest_index(s_bottom - s_top, classes_inf.shape[0])
        cols = nearest_index(s_right - s_left, classes_inf.shape[1])
        classes = classes_inf[np.ix_(rows, cols)]
        probs = probs_inf[:, rows][:, :, cols] if probs_inf is not None else None
        native = self.src.read(out_win)
        return classes, probs, valid_mask(native, self.src.nodata), out_win
