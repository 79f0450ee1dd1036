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
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from ocm_engine import metrics
from ocm_engine.constants import (
    MIN_PATCH_PX,
    MIN_RESOLUTION_M,
    NUM_CLASSES,
    OUTPUT_NODATA,
)
from ocm_engine.display import scene_rgb
from ocm_engine.errors import Hints, ImageTooSmallError, NoValidDataError, OutputExistsError
from ocm_engine.inference import ProgressCallback, predict_scene
from ocm_engine.io.mapping import BandMapping
from ocm_engine.io.readers import SceneSource
from ocm_engine.io.scene import SceneReader
from ocm_engine.models.ensemble import Ensemble
from ocm_engine.normalize import valid_mask
from ocm_engine.options import InferenceOptions, ReadOptions, warn_legacy_keywords
from ocm_engine.outputs.atomic import atomic_path, check_writable
from ocm_engine.outputs.geotiff import (
    class_profile,
    describe_probability_bands,
    finish_class_dataset,
    probability_profile,
    stats_tags,
)
from ocm_engine.outputs.quicklook import MaskSample, write_png
from ocm_engine.outputs.report import OutputPaths, ReportSection, SceneOutputs, output_paths, write_report
from ocm_engine.provenance import RunFacts
from ocm_engine.resolution import nearest_index
from ocm_engine.types import DtypeName, GridInfo

__all__ = ["OutputPaths", "SceneOutputs", "output_paths", "predict_file", "preview_title", "scene_stem"]

DEFAULT_BLOCK_PX = 12288
PREVIEW_MAX_PX = 2048


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
    read: ReadOptions | None = None,
    options: InferenceOptions | None = None,
    ensemble: Ensemble | None = None,
    probabilities: bool = False,
    png: bool = True,
    overwrite: bool = False,
    progress: bool = False,
    progress_callback: ProgressCallback | None = None,
    block_px: int = DEFAULT_BLOCK_PX,
    stem: str | None = None,
    sections: Sequence[ReportSection] = (),
    sensor: str | None = None,
    bands: BandMapping | Sequence[int | None] | None = None,
    nodata: float | None = None,
    resolution_m: float | None = None,
    patch_px: int | None = None,
    overlap_px: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    dtype: DtypeName | str | None = None,
) -> SceneOutputs:
    """Mask one scene and write its outputs.

    Built on :class:`~ocm_engine.io.scene.SceneReader` (``read_scene`` one block at a time)
    and :func:`~ocm_engine.inference.predict_scene`.

    Args:
        path: A raster file, its bytes, a sequence of single-band files, or ``(file, band)``
            pairs (see :func:`~ocm_engine.read_scene`).
        output_dir: Folder for the outputs (created if needed).
        read: Sensor, 1-based bands, nodata and inference resolution (see :class:`ReadOptions`).
        options: Patch, overlap, batch, device, dtype, TTA (see :class:`InferenceOptions`).
        ensemble: The models (default: the embedded ensemble).
        probabilities: Also write the 4-band probability GeoTIFF.
        png: Also write a PNG preview.
        overwrite: Replace existing outputs.
        progress: Show a progress bar.
        progress_callback: ``callback(done_patches, total_patches)``.
        block_px: Largest block of the inference grid processed at once.
        stem: Output file-name stem (default: from the input name).
        sections: Extra typed report sections (STAC items pass their
            :class:`~ocm_engine.stac.predict.StacFacts`), written in the report's one atomic commit.
        sensor: Deprecated (``DeprecationWarning``): use ``read=ReadOptions(sensor=...)``.
        bands: Deprecated: ``read.bands``.
        nodata: Deprecated: ``read.nodata``.
        resolution_m: Deprecated: ``read.resolution_m``.
        patch_px: Deprecated: use ``options=InferenceOptions(patch_px=...)``.
        overlap_px: Deprecated: ``options.overlap_px``.
        batch_size: Deprecated: ``options.batch_size``.
        device: Deprecated: ``options.device``.
        dtype: Deprecated: ``options.dtype``.

    Returns:
        The scene's :class:`~ocm_engine.outputs.report.SceneOutputs`: the paths written
        (``*_ocm.tif``, ``*_ocm.json`` report, optionally ``*_ocm_probabilities.tif`` and
        ``*_ocm.png``), statistics, provenance, run facts and warnings. It is also path-like
        (``os.fspath(result)``, ``result.path``: the class GeoTIFF), as the path returned before.

    Raises:
        OcmError: Subclasses for unreadable input, bad mapping or resolution, no valid
            data, or existing outputs.
    """
    start = time.perf_counter()
    legacy_read = {"sensor": sensor, "bands": None if bands is None else _band_value(bands), "nodata": nodata,
                   "resolution_m": resolution_m}
    legacy_inference = {"patch_px": patch_px, "overlap_px": overlap_px, "batch_size": batch_size,
                        "device": device, "dtype": dtype}
    warn_legacy_keywords("predict_file", legacy_read, "ReadOptions", "read")
    warn_legacy_keywords("predict_file", legacy_inference, "InferenceOptions", "options")
    how = (read or ReadOptions()).replace(**legacy_read)
    opts = (options or InferenceOptions()).replace(**legacy_inference, return_probabilities=probabilities)
    out_dir = Path(output_dir)
    paths = output_paths(stem or scene_stem(path), out_dir, probabilities, png)
    _check_outputs(paths, overwrite)
    with SceneReader(path, sensor=how.sensor, bands=how.band_list(), nodata=how.nodata,
                     resolution_m=how.resolution_m) as reader:
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
            sample = MaskSample(src.height, src.width, PREVIEW_MAX_PX) if png_tmp is not None else None
            stats = run.execute(class_tmp, prob_tmp, grid, sample)
            if stats.valid_pixels == 0:
                raise NoValidDataError(
                    f"Pixels of {src.name}", arrived=f"only nodata (the value {src.nodata!r}, or NaN)",
                    expected="at least one valid pixel",
                    hints=Hints(python="Check nodata= and the band mapping (bands=, sensor=).",
                                cli="Check --nodata and the band mapping (--bands, --sensor).",
                                app="Check the nodata value and the band mapping on the Run page."),
                )
            provenance = reader.read_provenance().with_model(run.model, run.facts.model_version,
                                                             run.facts.weights)
            tags = {"model": run.model, "source": src.name, "software": "ocm_engine",
                    **provenance.as_tags(), **run.facts.as_tags()}
            with rasterio.open(class_tmp, "r+") as dst:
                finish_class_dataset(dst, stats_tags(stats, tags))
            if png_tmp is not None and sample is not None:
                write_png(png_tmp, sample.classes, sample.valid, rgb=scene_rgb(reader.read_overview(PREVIEW_MAX_PX)),
                          title=preview_title(path, reader), overwrite=True)
            outputs = SceneOutputs(paths, stats, provenance, run.facts, tuple(reader.warnings), src.name,
                                   time.perf_counter() - start, opts, how, sections=tuple(sections))
            write_report(json_tmp, outputs, overwrite=True)
    return outputs


def _band_value(bands: BandMapping | Sequence[int | None]) -> BandMapping | tuple[int | None, ...]:
    return bands if isinstance(bands, BandMapping) else tuple(bands)


def _check_outputs(paths: OutputPaths, overwrite: bool) -> None:
    """Refuse to replace existing outputs unless ``overwrite``; name interrupted runs as such."""
    if overwrite:
        return
    existing = [p for p in paths.all() if p.exists()]
    if not existing:
        return
    if paths.stats.exists():
        check_writable(existing[0], overwrite)
    raise OutputExistsError(existing[0], incomplete=[p.name for p in existing], report_name=paths.stats.name)


def _check_grid(reader: SceneReader) -> None:
    """Explain an inference grid too small for the models in terms of the file and resolution."""
    if min(reader.height, reader.width) >= MIN_PATCH_PX:
        return
    src = reader.source
    source_m, chosen = src.resolution_m, reader.resolution_m
    if reader.factor == 1.0:
        hints = Hints.same("Use a larger extent, or pad the image with nodata.")
    else:
        finest = f"at least {max(source_m, MIN_RESOLUTION_M):.4g} m"
        hints = Hints(python=f"Choose a finer resolution_m ({finest}), or use a larger extent.",
                      cli=f"Choose a finer --resolution ({finest}), or use a larger extent.",
                      app=f"Choose a finer resolution ({finest}), or use a larger extent.")
    size = f"{reader.height} x {reader.width} px"
    if reader.factor != 1.0:
        size += f" at the {chosen:.4g} m inference resolution ({src.height} x {src.width} px at {source_m:.4g} m)"
    raise ImageTooSmallError(
        f"Inference grid of {src.name}", arrived=size,
        expected=f"at least {MIN_PATCH_PX} px on each side (about 96 px for good accuracy)", hints=hints,
    )


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
        self.facts = RunFacts()

    def execute(self, class_tmp: Path, prob_tmp: Path | None, grid: GridInfo,
                sample: MaskSample | None = None) -> metrics.ClassStatistics:
        stats = metrics.statistics_from_counts([0] * NUM_CLASSES, 0, 0)
        blocks = _blocks(self.inf_h, self.inf_w, self.block_px)
        with contextlib.ExitStack() as stack:
            dst = stack.enter_context(rasterio.open(class_tmp, "w", **class_profile(grid)))
            pdst = (stack.enter_context(rasterio.open(prob_tmp, "w", **probability_profile(grid)))
                    if prob_tmp else None)
            if pdst is not None:
                describe_probability_bands(pdst)
            for index, core in enumerate(blocks):
                classes, probs, valid, out_win = self._block(core, pdst is not None, index, len(blocks))
                dst.write(np.where(valid, classes, OUTPUT_NODATA).astype(np.uint8), 1, window=out_win)
                if pdst is not None and probs is not None:
                    pdst.write(np.where(valid[None], probs, np.float32(np.nan)), window=out_win)
                stats = stats + metrics.class_statistics(classes, valid)
                if sample is not None:
                    sample.add(classes, valid, int(out_win.row_off), int(out_win.col_off))
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
            self.model, self.facts = pred.model, pred.run
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
