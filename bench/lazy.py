"""Lazy Dask prediction of a large mosaic: peak RSS per worker and throughput.

Cases (one JSON printed at the end, with the machine's load and every setting):
    mosaic    a lazily generated 4-band uint16 mosaic (default 20 000 x 20 000 px, its float32
              form 6.4 GB) predicted through ``predict_dataarray`` on a distributed
              ``LocalCluster`` whose workers are limited to ``--memory-limit`` each; reports
              Mpx/s and the peak RSS of every worker (sampled every 0.2 s on the workers).
    compare   the same kind of mosaic at ``--compare-size`` (default 5 000 px): the in-memory
              path against the lazy path (threaded scheduler, same process), Mpx/s side by side,
              and the share of equal class pixels.

``--model micro`` runs one random 1x1 convolution (:func:`micro_ensemble`), to measure the lazy
graph's machinery on a loaded machine in bounded time; ``--model default`` runs the embedded
ensemble (loaded once per worker). Numbers depend on the machine and its load: report them with the JSON's ``load``.

Examples::

    python3 bench/lazy.py --case mosaic --model micro --size 20000 --workers 2 --memory-limit 2GB
    python3 bench/lazy.py --case compare --model default --compare-size 5000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ocm_engine.options import InferenceOptions  # noqa: E402


def _block(block_id: tuple[int, ...], chunks: tuple[int, int], seed: int) -> np.ndarray:
    """One (4, h, w) uint16 chunk of the synthetic mosaic, a pure function of its position."""
    _, bi, bj = block_id
    rng = np.random.default_rng(seed + 1000 * bi + bj)
    h, w = chunks
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 1500 + 400 * np.sin((xx + bj * w) / 97.0) * np.cos((yy + bi * h) / 83.0)
    cloud = 6000 * np.exp(-(((xx - w * 0.4) ** 2 + (yy - h * 0.6) ** 2) / (2 * (w / 5) ** 2)))
    bands = [base + cloud + 60 * rng.standard_normal((h, w), dtype=np.float32) for _ in range(4)]
    return np.clip(np.stack(bands), 1, 65535).astype(np.uint16)


def lazy_mosaic(size: int, chunk: int = 2048, seed: int = 0) -> Any:
    """A (band, y, x) DataArray of a Dask-generated mosaic with a UTM CRS at 10 m; nothing computed."""
    import dask.array as dsa
    import rioxarray  # noqa: F401
    import xarray as xr

    def make(block_info: Any = None) -> np.ndarray:
        info = block_info[None]
        loc = info["chunk-location"]
        shape = info["chunk-shape"]
        return _block(loc, (shape[1], shape[2]), seed)

    data = dsa.map_blocks(make, chunks=((4,), _chunks(size, chunk), _chunks(size, chunk)), dtype=np.uint16,
                          meta=np.empty((0, 0, 0), np.uint16))
    coords = {"band": ["red", "green", "blue", "nir"], "y": 5_000_000 - 5 - 10.0 * np.arange(size),
              "x": 300_000 + 5 + 10.0 * np.arange(size)}
    return xr.DataArray(data, dims=("band", "y", "x"), coords=coords).rio.write_crs("EPSG:32633").rio.write_nodata(0)


def _chunks(size: int, chunk: int) -> tuple[int, ...]:
    return tuple(min(chunk, size - i) for i in range(0, size, chunk))


def micro_ensemble() -> Any:
    """The micro model: one 1x1 convolution (3 -> 4 classes), random weights.

    It costs next to nothing per pixel, so the figures measure the lazy graph's own machinery
    (generation, reading, the per-patch z-score, blending, cropping, scheduling) rather than a
    network. Passed to the workers inside the graph (a few hundred bytes).
    """
    import torch

    from ocm_engine import load_ensemble

    torch.manual_seed(0)
    return load_ensemble([torch.nn.Conv2d(3, 4, 1).eval()], device="cpu", dtype="fp32")


def _start_sampler(dask_worker: Any) -> bool:
    """On a worker: sample this process's RSS every 0.2 s, keeping the peak on the worker object."""
    import psutil

    proc = psutil.Process()
    dask_worker.ocm_peak_rss = proc.memory_info().rss

    def loop() -> None:
        while True:
            dask_worker.ocm_peak_rss = max(dask_worker.ocm_peak_rss, proc.memory_info().rss)
            time.sleep(0.2)

    threading.Thread(target=loop, daemon=True).start()
    return True


def _count(block: np.ndarray) -> np.ndarray:
    return np.array([(block == k).sum() for k in (0, 1, 2, 3, 255)], np.int64)


def _block_shapes(array: Any) -> list[tuple[int, int]]:
    return [(h, w) for h in array.chunks[0] for w in array.chunks[1]]


def _warm_up() -> bool:
    import ocm_engine.xarray_lazy  # noqa: F401

    return True


def _peak(dask_worker: Any) -> int:
    return int(getattr(dask_worker, "ocm_peak_rss", 0))


def run_mosaic(args: argparse.Namespace, model: Any, opts: InferenceOptions) -> dict[str, Any]:
    """The large mosaic on a LocalCluster with memory-limited workers."""
    import dask
    from distributed import Client, LocalCluster, as_completed

    from ocm_engine.xarray_io import predict_dataarray

    threads = max(1, (os.cpu_count() or 1) // args.workers)
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, memory_limit=args.memory_limit,
                           processes=True, dashboard_address=None,
                           env={"OMP_NUM_THREADS": str(threads)})  # type: ignore[no-untyped-call]
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        client.run(_warm_up)  # imports torch and the engine on every worker before timing
        client.run(_start_sampler)
        da = lazy_mosaic(args.size, args.chunk)
        ds = predict_dataarray(da, **_model_kwargs(model), options=opts, block_px=args.block_px)
        classes = ds.classes.data
        tasks = len(classes.dask)
        blocks = classes.to_delayed().ravel()
        sizes = [int(np.prod(s)) for s in _block_shapes(classes)]
        counted = [dask.delayed(_count)(b) for b in blocks]
        start = time.perf_counter()
        futures = client.compute(counted)
        index = {f.key: i for i, f in enumerate(futures)}
        total = np.zeros(5, np.int64)
        done_px = 0
        for future in as_completed(futures):
            total += future.result()
            done_px += sizes[index[future.key]]
            elapsed = time.perf_counter() - start
            peaks = client.run(_peak)
            print(f"progress {done_px / 1e6:.1f}/{args.size ** 2 / 1e6:.1f} Mpx, {elapsed:.0f} s, "
                  f"{done_px / 1e6 / elapsed:.3f} Mpx/s, peak RSS MB "
                  f"{sorted(round(v / 2**20) for v in peaks.values())}", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - start
        peaks = client.run(_peak)
        values = total
    mpx = args.size * args.size / 1e6
    return {
        "case": "mosaic", "size_px": args.size, "megapixels": mpx, "float32_gb": 4 * 4 * mpx / 1e3,
        "workers": args.workers, "memory_limit": args.memory_limit, "torch_threads_per_worker": threads,
        "block_px": args.block_px, "chunk_px": args.chunk, "graph_tasks": tasks,
        "seconds": round(seconds, 2), "mpx_per_s": round(mpx / seconds, 3),
        "peak_rss_mb_per_worker": {str(k): round(v / 2**20) for k, v in peaks.items()},
        "class_counts": {str(k): int(v) for k, v in zip((0, 1, 2, 3, 255), values, strict=True)},
    }


def run_compare(args: argparse.Namespace, model: Any, opts: InferenceOptions) -> dict[str, Any]:
    """In-memory against lazy (threaded scheduler) on the same mosaic, same process."""
    import torch

    from ocm_engine.xarray_io import predict_dataarray

    torch.set_num_threads(os.cpu_count() or 1)
    da = lazy_mosaic(args.compare_size, args.chunk).compute()
    mpx = args.compare_size ** 2 / 1e6
    kwargs = _model_kwargs(model)
    predict_dataarray(da.isel(y=slice(0, 256), x=slice(0, 256)), **kwargs, options=opts)  # warm-up
    start = time.perf_counter()
    eager = predict_dataarray(da, **kwargs, options=opts)
    eager_s = time.perf_counter() - start
    lazy = predict_dataarray(da.chunk({"y": args.chunk, "x": args.chunk}), **kwargs, options=opts,
                             block_px=args.block_px)
    start = time.perf_counter()
    done = lazy.compute(scheduler="threads", num_workers=1)
    lazy_s = time.perf_counter() - start
    equal = float((done.classes.values == eager.classes.values).mean())
    return {
        "case": "compare", "size_px": args.compare_size, "block_px": args.block_px,
        "in_memory_s": round(eager_s, 2), "in_memory_mpx_per_s": round(mpx / eager_s, 3),
        "lazy_s": round(lazy_s, 2), "lazy_mpx_per_s": round(mpx / lazy_s, 3),
        "equal_class_pixels": equal,
    }


def _model_kwargs(model: Any) -> dict[str, Any]:
    return {"model": model} if isinstance(model, str) else {"ensemble": model}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen cases and print one JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("mosaic", "compare", "all"), default="all")
    parser.add_argument("--model", default="micro", help="micro (one random test_resnet), default, or a weights folder")
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--compare-size", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--chunk", type=int, default=2048, help="input chunk side")
    parser.add_argument("--block-px", type=int, default=4096, help="output block side of the lazy graph")
    parser.add_argument("--patch-px", type=int, default=1000)
    parser.add_argument("--overlap-px", type=int, default=300)
    args = parser.parse_args(argv)
    opts = InferenceOptions(patch_px=args.patch_px, overlap_px=args.overlap_px, device="cpu", dtype="fp32",
                            return_probabilities=False)
    model = micro_ensemble() if args.model == "micro" else args.model
    results = []
    if args.case in ("compare", "all"):
        results.append(run_compare(args, model, opts))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    if args.case in ("mosaic", "all"):
        results.append(run_mosaic(args, model, opts))
    report = {"machine": platform.node(), "cpus": os.cpu_count(), "load": os.getloadavg(),
              "model": args.model, "patch_px": args.patch_px, "overlap_px": args.overlap_px,
              "device": "cpu", "dtype": "fp32", "results": results}
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
