"""Lazy, chunked inference on the engine's own global patch grid (numpy or Dask arrays).

Every patch is z-scored by its own pixels, so a chunk cannot simply be predicted with a halo
around it (a ``map_overlap`` normalises other pixels than the in-memory tiling does). Here the
output is cut into blocks whose edges lie on patch starts of the **global** grid
(:func:`~ocm_engine.tiling.patch_windows` of the whole image). For each block, the region read is
the union of the global patches that touch the block; the engine's own tiling of that region
reproduces exactly those patches (same origins, overlap and blend weights, same row-major order),
so after cropping, every block pixel is blended from the same patch logits, summed in the same
order, as in :func:`~ocm_engine.inference.predict_scene` on the whole image.

The resampling to the inference grid is a nodata-aware box mean whose footprints are fixed on the
global grid too (:func:`box_mean`), so a region resamples to the same values as the whole.

Dask is imported only when a lazy graph is built.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rasterio.crs import CRS
from rasterio.transform import Affine

from ocm_engine.constants import NUM_CLASSES, OUTPUT_NODATA
from ocm_engine.errors import NoValidDataError
from ocm_engine.inference import Prediction, predict_scene
from ocm_engine.io.scene import Scene
from ocm_engine.models.ensemble import Ensemble
from ocm_engine.normalize import valid_mask
from ocm_engine.options import InferenceOptions
from ocm_engine.provenance import BandSource
from ocm_engine.tiling import _starts, fit_patch

ModelSpec = Ensemble | str | Path | None
"""The models: an :class:`Ensemble`, a ``cached_ensemble`` source (``"default"``, a weights
folder) loaded once per process (per Dask worker), or ``None`` for the embedded default."""


@dataclass(frozen=True, slots=True)
class GridSpec:
    """The source grid and the inference grid derived from it.

    Attributes:
        height: Source rows.
        width: Source columns.
        transform: Source transform.
        crs: Source CRS (``None`` when unknown).
        nodata: The input's nodata value (``None``: only NaN).
        source_resolution_m: Source pixel size in metres (``nan`` when unknown).
        resolution_m: Inference pixel size in metres (``nan``: the source grid is used).
        bands: Provenance of Red, Green, NIR (and Blue).
        sensor: The sensor preset key, or ``None``.
        name: A label for messages.
    """

    height: int
    width: int
    transform: Affine
    crs: CRS | None
    nodata: float | None
    source_resolution_m: float
    resolution_m: float
    bands: tuple[BandSource, ...] = ()
    sensor: str | None = None
    name: str = "xarray"

    @property
    def factor(self) -> float:
        """Inference pixel size over source pixel size (1 when either is unknown)."""
        known = math.isfinite(self.resolution_m) and math.isfinite(self.source_resolution_m)
        return self.resolution_m / self.source_resolution_m if known else 1.0

    @property
    def inference_shape(self) -> tuple[int, int]:
        """``(height, width)`` of the inference grid (as :class:`~ocm_engine.SceneReader` sizes it)."""
        f = self.factor
        return max(1, round(self.height / f)), max(1, round(self.width / f))

    @property
    def inference_transform(self) -> Affine:
        """Transform of the inference grid."""
        h, w = self.inference_shape
        return self.transform * Affine.scale(self.width / w, self.height / h)


def footprint_starts(source_len: int, target_len: int) -> npt.NDArray[np.intp]:
    """First source pixel of each of ``target_len`` box footprints tiling ``source_len`` pixels."""
    f = source_len / target_len
    starts: npt.NDArray[np.intp] = np.floor(np.arange(target_len) * f + 0.5).astype(np.intp)
    return starts


def box_mean(data: npt.NDArray[np.generic], nodata: float | None, rows: npt.NDArray[np.intp],
             cols: npt.NDArray[np.intp]) -> npt.NDArray[np.float32]:
    """Nodata-aware box mean of ``(bands, h, w)`` onto footprints starting at ``rows`` x ``cols``.

    Footprint ``i`` spans ``rows[i]:rows[i + 1]`` (the last one to the end), so the same global
    footprints give the same values whether the whole image or a region is resampled. Pixels
    whose footprint has no valid pixel become ``nodata`` (NaN when ``None``).

    Args:
        data: The source pixels.
        nodata: Nodata value (a pixel is nodata when all bands equal it; NaN always is).
        rows: Footprint starts along rows, relative to ``data`` (first must be 0).
        cols: Footprint starts along columns.

    Returns:
        ``(bands, len(rows), len(cols))`` float32.
    """
    if len(rows) == data.shape[1] and len(cols) == data.shape[2]:
        return np.asarray(data, dtype=np.float32)
    valid = valid_mask(data, nodata).astype(np.float64)
    values = np.where(valid[None] > 0, data, 0).astype(np.float64)
    weight = np.add.reduceat(np.add.reduceat(valid, rows, axis=0), cols, axis=1)
    sums = np.add.reduceat(np.add.reduceat(values * valid[None], rows, axis=1), cols, axis=2)
    fill = np.float32(np.nan if nodata is None else nodata)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(weight[None] > 0, sums / np.maximum(weight[None], 1), fill)
    return mean.astype(np.float32)


def resample_to_inference(data: npt.NDArray[np.generic], grid: GridSpec) -> npt.NDArray[np.float32]:
    """The Red/Green/NIR ``(3, h, w)`` source pixels on the whole inference grid."""
    h, w = grid.inference_shape
    return box_mean(data, grid.nodata, footprint_starts(grid.height, h), footprint_starts(grid.width, w))


def scene_from_array(data: npt.NDArray[np.float32], grid: GridSpec, transform: Affine) -> Scene:
    """A :class:`Scene` of inference-grid pixels ``(3, h, w)`` with ``grid``'s georeferencing."""
    return Scene(
        data=data, valid=valid_mask(data, grid.nodata), transform=transform, crs=grid.crs,
        nodata=grid.nodata, source_resolution_m=grid.source_resolution_m,
        resolution_m=grid.resolution_m if math.isfinite(grid.resolution_m) else grid.source_resolution_m,
        bands=grid.bands, name=grid.name, sensor=grid.sensor,
    )


def footprint_index(starts: npt.NDArray[np.intp], lo: int, hi: int) -> npt.NDArray[np.intp]:
    """For source pixels ``lo:hi``, the index of the footprint (inference pixel) holding each."""
    index: npt.NDArray[np.intp] = (np.searchsorted(starts, np.arange(lo, hi), side="right") - 1).astype(np.intp)
    return index


def to_source_grid(pred_classes: npt.NDArray[np.uint8], pred_probs: npt.NDArray[np.float32] | None,
                   native: npt.NDArray[np.generic], nodata: float | None,
                   rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp],
                   ) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32] | None]:
    """Inference-grid classes (and probabilities) back onto the ``native`` source pixels.

    Every source pixel takes the inference pixel whose footprint holds it (``rows``/``cols``,
    relative to ``pred_classes``); source nodata pixels become 255 (classes) and NaN
    (probabilities).
    """
    if pred_classes.shape != native.shape[1:]:
        pred_classes = pred_classes[np.ix_(rows, cols)]
        if pred_probs is not None:
            pred_probs = pred_probs[:, rows][:, :, cols]
    valid = valid_mask(native, nodata)
    classes = np.where(valid, pred_classes, OUTPUT_NODATA).astype(np.uint8)
    probs = None if pred_probs is None else np.where(valid[None], pred_probs, np.float32(np.nan)).astype(np.float32)
    return classes, probs


def resolve_ensemble(model: ModelSpec, options: InferenceOptions) -> Ensemble | None:
    """The ensemble for ``model`` in this process (``None``: the engine picks its default)."""
    if model is None or isinstance(model, Ensemble):
        return model
    from ocm_engine.batch.worker import worker_device, worker_ensemble

    return worker_ensemble(str(model), worker_device(options.device), options.dtype)


def predict_in_memory(data: npt.NDArray[np.generic], grid: GridSpec, model: ModelSpec,
                      options: InferenceOptions) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32] | None,
                                                          Prediction]:
    """Predict Red/Green/NIR source pixels ``(3, h, w)`` in one go; results on the source grid.

    Returns:
        Classes (uint8, 255 nodata), probabilities (or ``None``) and the engine's prediction.

    Raises:
        NoValidDataError: Every pixel is nodata.
        ImageTooSmallError: An inference grid under 32 px.
    """
    scene = scene_from_array(resample_to_inference(data, grid), grid, grid.inference_transform)
    pred = predict_scene(scene, resolve_ensemble(model, options), options)
    h, w = grid.inference_shape
    rows = footprint_index(footprint_starts(grid.height, h), 0, grid.height)
    cols = footprint_index(footprint_starts(grid.width, w), 0, grid.width)
    classes, probs = to_source_grid(pred.classes, pred.probabilities, data, grid.nodata, rows, cols)
    return classes, probs, pred


@dataclass(frozen=True, slots=True)
class BlockPlan:
    """One output block and the region of the inference grid whose patches cover it.

    Attributes:
        rows: Output block rows on the inference grid ``(start, stop)``.
        cols: Output block columns on the inference grid.
        region_rows: Rows read (the union of the global patches touching the block).
        region_cols: Columns read.
    """

    rows: tuple[int, int]
    cols: tuple[int, int]
    region_rows: tuple[int, int]
    region_cols: tuple[int, int]


def _cuts(starts: Sequence[int], length: int, every: int) -> list[int]:
    cuts = [starts[i] for i in range(0, len(starts), every)] + [length]
    return sorted(set(cuts))


def _region(starts: Sequence[int], patch: int, lo: int, hi: int) -> tuple[int, int]:
    touching = [s for s in starts if s < hi and s + patch > lo]
    return touching[0], touching[-1] + patch


def plan_blocks(height: int, width: int, options: InferenceOptions,
                block_px: int) -> tuple[list[list[BlockPlan]], int, int]:
    """Cut an inference grid into output blocks on the global patch grid.

    Block edges are patch starts, about ``block_px`` apart, so the overlap between regions
    (patches computed twice) stays a small share when blocks are several patches wide.

    Args:
        height: Inference grid height.
        width: Inference grid width.
        options: Patch and overlap (shrunk to fit as the in-memory path does).
        block_px: Wanted block side on the inference grid.

    Returns:
        Blocks row by row, and the patch side and overlap used.
    """
    patch, overlap = fit_patch(height, width, options.patch_px, options.overlap_px)
    stride = patch - overlap
    every = max(1, round(block_px / stride))
    tops, lefts = _starts(height, patch, stride), _starts(width, patch, stride)
    row_cuts, col_cuts = _cuts(tops, height, every), _cuts(lefts, width, every)
    plans = [
        [BlockPlan((r0, r1), (c0, c1), _region(tops, patch, r0, r1), _region(lefts, patch, c0, c1))
         for c0, c1 in itertools.pairwise(col_cuts)]
        for r0, r1 in itertools.pairwise(row_cuts)
    ]
    return plans, patch, overlap


def _source_span(lo: int, hi: int, starts: npt.NDArray[np.intp], source_len: int) -> tuple[int, int]:
    return int(starts[lo]), int(starts[hi]) if hi < len(starts) else source_len


def predict_block(region: npt.NDArray[np.generic], block: BlockPlan, grid: GridSpec, model: ModelSpec,
                  options: InferenceOptions, native: npt.NDArray[np.generic] | None = None,
                  ) -> npt.NDArray[np.float32] | npt.NDArray[np.uint8]:
    """Predict one output block from its region of source pixels (a Dask task).

    Args:
        region: Red/Green/NIR source pixels of ``block.region_rows`` x ``block.region_cols``
            (mapped to the source grid).
        block: The block and its region.
        grid: Source and inference grids.
        model: The models (loaded once per process when a source name).
        options: Inference options.
        native: The block's own source pixels (for the valid mask on the source grid); cut from
            ``region`` when ``None``.

    Returns:
        Classes (uint8, 255 nodata) of the block on the source grid, or, with
        ``options.return_probabilities``, ``(1 + 4, h, w)`` float32: classes then probabilities.
    """
    h, w = grid.inference_shape
    rstarts, cstarts = footprint_starts(grid.height, h), footprint_starts(grid.width, w)
    (ra, rb), (ca, cb) = block.region_rows, block.region_cols
    src_r0, _ = _source_span(ra, rb, rstarts, grid.height)
    src_c0, _ = _source_span(ca, cb, cstarts, grid.width)
    data = box_mean(region, grid.nodata, rstarts[ra:rb] - src_r0, cstarts[ca:cb] - src_c0)
    transform = grid.inference_transform * Affine.translation(ca, ra)
    scene = scene_from_array(data, grid, transform)
    want = options.return_probabilities
    try:
        pred = predict_scene(scene, resolve_ensemble(model, options), options)
        classes_inf, probs_inf = pred.classes, pred.probabilities
    except NoValidDataError:
        classes_inf = np.zeros(scene.shape, np.uint8)
        probs_inf = np.zeros((NUM_CLASSES, *scene.shape), np.float32) if want else None
    (r0, r1), (c0, c1) = block.rows, block.cols
    classes_inf = classes_inf[r0 - ra : r1 - ra, c0 - ca : c1 - ca]
    if probs_inf is not None:
        probs_inf = probs_inf[:, r0 - ra : r1 - ra, c0 - ca : c1 - ca]
    sr = _source_span(r0, r1, rstarts, grid.height)
    sc = _source_span(c0, c1, cstarts, grid.width)
    if native is None:
        native = region[:, sr[0] - src_r0 : sr[1] - src_r0, sc[0] - src_c0 : sc[1] - src_c0]
    rows = footprint_index(rstarts, *sr) - r0
    cols = footprint_index(cstarts, *sc) - c0
    classes, probs = to_source_grid(classes_inf, probs_inf, native, grid.nodata, rows, cols)
    if probs is None:
        return classes
    return np.concatenate([classes[None].astype(np.float32), probs])


def lazy_predict(data: Any, grid: GridSpec, model: ModelSpec, options: InferenceOptions,
                 block_px: int = 4096) -> tuple[Any, Any | None]:
    """Build the lazy Dask graph of a prediction of Red/Green/NIR source pixels ``(3, h, w)``.

    Nothing is computed here: every output block is one task that reads its region of ``data``
    (a Dask or numpy array), runs :func:`predict_block` and returns the block.

    Args:
        data: ``(3, height, width)`` Dask (or numpy) array of Red, Green, NIR on the source grid.
        grid: Source and inference grids.
        model: The models (a source name is loaded once per worker process).
        options: Inference options.
        block_px: Wanted output block side on the inference grid.

    Returns:
        Lazy classes ``(height, width)`` uint8 (255 nodata) and, with
        ``options.return_probabilities``, lazy probabilities ``(4, height, width)`` float32.
    """
    import importlib

    dask: Any = importlib.import_module("dask")
    dsa: Any = importlib.import_module("dask.array")
    h, w = grid.inference_shape
    plans, _, _ = plan_blocks(h, w, options, block_px)
    rstarts, cstarts = footprint_starts(grid.height, h), footprint_starts(grid.width, w)
    want = options.return_probabilities
    task: Callable[..., Any] = dask.delayed(predict_block, pure=True)
    rows_out = []
    for plan_row in plans:
        blocks = []
        for block in plan_row:
            sr = _source_span(*block.region_rows, rstarts, grid.height)
            sc = _source_span(*block.region_cols, cstarts, grid.width)
            out_r = _source_span(*block.rows, rstarts, grid.height)
            out_c = _source_span(*block.cols, cstarts, grid.width)
            region = data[:, sr[0] : sr[1], sc[0] : sc[1]]
            shape = (out_r[1] - out_r[0], out_c[1] - out_c[0])
            result = task(region, block, grid, model, options)
            if want:
                blocks.append(dsa.from_delayed(result, (1 + NUM_CLASSES, *shape), dtype=np.float32))
            else:
                blocks.append(dsa.from_delayed(result, shape, dtype=np.uint8))
        rows_out.append(blocks)
    if not want:
        return dsa.block(rows_out), None
    stacked = dsa.block([[b for b in row] for row in rows_out])
    return stacked[0].astype(np.uint8), stacked[1:]


def with_options(options: InferenceOptions | None, probabilities: bool) -> InferenceOptions:
    """The options with ``return_probabilities`` set."""
    return replace(options or InferenceOptions(), return_probabilities=probabilities)
