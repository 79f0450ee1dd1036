"""Batch masking of many scenes on Dask distributed (``ocm batch``).

Example::

    from ocm_engine.batch import run_batch
    from ocm_engine.options import ReadOptions

    result = run_batch("tiles/*.tif", "out/", read=ReadOptions(sensor="sentinel2_l2a"), model="default")
    result.failed, result.summary_csv          # per-scene status, cloud %, time

Dask is imported only when a batch runs, so this package imports without it. The
``ocm batch`` command lives in :mod:`ocm_engine.cli.batch`.
"""

from ocm_engine.batch.runner import BatchResult, local_cluster_size, run_batch, write_summary
from ocm_engine.batch.scenes import (
    BatchScene,
    read_scene_csv,
    read_stac_items,
    resolve_scenes,
)
from ocm_engine.batch.worker import SceneJob, SceneResult, process_scene
from ocm_engine.errors import BatchError, SceneListError

__all__ = [
    "BatchError",
    "BatchResult",
    "BatchScene",
    "SceneJob",
    "SceneListError",
    "SceneResult",
    "local_cluster_size",
    "process_scene",
    "read_scene_csv",
    "read_stac_items",
    "resolve_scenes",
    "run_batch",
    "write_summary",
]
