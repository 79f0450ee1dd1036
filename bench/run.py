"""Side-by-side speed and memory benchmark: our engine against the reference (omnicloudmask).

Both engines get the same members (random weights are fine for speed), the same input
and the same patch layout, in the same process. Warm-up runs are excluded, runs are
interleaved (ours, reference, ours, ...) so machine load drifts hit both, and the
JSON printed at the end carries the machine, its load and every setting.

``ratio`` is ``reference_s / ours_s``: above 1 means we are faster.

Cases:
    cpu_small     2000 x 2000 array (the issue's CPU case).
    tile_array    full Sentinel-2 tile (10980 x 10980) from an in-memory array.
    tile_geotiff  the same from a GeoTIFF on disk, read and write included.
    memory        peak host RSS of ``predict_array`` with class-only output against
                  3x the input as float32 (ours only unless ``--with-reference``).

Examples::

    python3 bench/run.py --case cpu_small --device cpu --save
    python3 bench/run.py --case tile_array --device cuda --dtype bf16 --reference-settings best
    python3 bench/run.py --case memory --members tiny --size 5000 --save
    python3 bench/run.py --smoke          # CI: tiny members, tiny sizes, JSON shape only
    python3 bench/run.py --case cpu_small --variants torch:bf16,openvino:fp32,openvino:bf16 --roofline

    python3 bench/run.py --case cpu_small --members default --roofline \
        --variants auto:auto,torch:bf16,torch:fp32,openvino:fp32,openvino:bf16,openvino:int8

``--variants`` runs several of our settings (``backend:dtype``; dtype ``auto`` is the engine's own
choice, ``int8`` quantizes the convolutional members and runs the rest at the CPU's float default,
an explicit float dtype runs every member in float) in the
same interleaved loop as the reference, so one run gives the whole side-by-side table; the
first variant is the one reported as ``ours``. ``--roofline`` adds the compiled runtime's best
large matrix multiply (GFLOP/s at f32 and bf16 on these cores, measured) and the ensemble's
achieved GFLOP/s (101 + 114 GFLOP per megapixel of patches for the v4 pair).
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ocm_engine import InferenceOptions, load_ensemble, predict_array, predict_file  # noqa: E402
from ocm_engine.models.ensemble import Ensemble  # noqa: E402
from ocm_engine.models.registry import DEFAULT_MEMBERS, build_member  # noqa: E402
from ocm_engine.options import ReadOptions  # noqa: E402
from ocm_engine.tiling import fit_patch, patch_windows  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results"
CASE_SIZES = {"cpu_small": 2000, "tile_array": 10980, "tile_geotiff": 10980, "memory": 5000}
REFERENCE_SETTINGS = {
    # What a user gets by default, and the best the reference measured (REFERENCE.md).
    "default": {"dtype": "fp32", "batch_size": 1, "compile": False},
    "best": {"dtype": "bf16", "batch_size": 8, "compile": True},
}
_TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
V4_GFLOP_PER_MPX = 101.0 + 114.0
"""Forward-pass work of the v4 pair (regnety_004 + edgenext_small U-Nets) per megapixel (REFERENCE.md)."""


# ---------------------------------------------------------------- machine and memory


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", ""),
        "memory_gb": round(_total_memory_bytes() / 2**30, 1),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    try:
        import omnicloudmask

        info["reference_version"] = getattr(omnicloudmask, "__version__", "unknown")
    except ImportError:
        info["reference_version"] = None
    return info


def _total_memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def load() -> dict[str, float]:
    """1/5/15-minute load averages (the CPU is shared: read ratios, not seconds)."""
    one, five, fifteen = os.getloadavg()
    return {"1m": round(one, 2), "5m": round(five, 2), "15m": round(fifteen, 2)}


def _rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil

    return int(psutil.Process().memory_info().rss)


class PeakRss:
    """Peak resident memory of this process during a block, above its level at entry.

    Samples RSS every few milliseconds on a thread (works everywhere, and sees
    allocations by torch and GDAL that tracemalloc does not).
    """

    def __init__(self, interval_s: float = 0.003) -> None:
        self.interval_s = interval_s
        self.base = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakRss:
        self.base = self.peak = _rss_bytes()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval_s)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def delta_mb(self) -> float:
        """Peak above the entry level, in MiB."""
        return round((self.peak - self.base) / 2**20, 1)


# ---------------------------------------------------------------- inputs and members


def make_members(kind: str) -> list[torch.nn.Module]:
    """Two members with random weights.

    ``v4``: the real OCM v4 architectures. ``tiny``: the registry's test encoder with the
    full-size U-Net decoder (the decoder dominates the cost, so this is not fast).
    ``micro``: the test encoder with a slim decoder, for memory and smoke runs where
    only the engine's own overheads matter.
    """
    torch.manual_seed(0)
    if kind == "micro":
        import segmentation_models_pytorch as smp

        return [
            smp.Unet(
                "tu-test_resnet", encoder_weights=None, in_channels=3, classes=4, decoder_channels=(32, 16, 16, 8, 8)
            ).eval()
            for _ in range(2)
        ]
    if kind == "default":
        return [m.float().eval() for m in load_ensemble("default", device="cpu", dtype="fp32", backend="torch").members]
    keys = DEFAULT_MEMBERS if kind == "v4" else ("test_resnet", "test_resnet")
    return [build_member(k).eval() for k in keys]


def make_image(size_px: int, seed: int = 0) -> np.ndarray:
    """A ``(3, size, size)`` uint16 scene: smooth fields, bright blobs, noise, a nodata hole.

    The hole is inside the scene: a nodata *edge* would make the reference shift its
    patches inward (which we do not), and ``class_agreement`` would then compare
    different layouts, not the same work.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.ogrid[0:size_px, 0:size_px]
    image = np.empty((3, size_px, size_px), dtype=np.uint16)
    for band in range(3):
        field = 2000 + 600 * np.sin(xx / (37.0 + band)) * np.cos(yy / 53.0)
        field = field + 3000 * (np.sin(xx / 301.0) * np.sin(yy / 257.0) > 0.6)
        image[band] = np.clip(field + rng.integers(0, 200, (size_px, size_px)), 1, 65535)
    hole = slice(size_px // 3, size_px // 3 + max(1, size_px // 20))
    image[:, hole, hole] = 0
    return image


def write_geotiff(image: np.ndarray, path: Path) -> Path:
    """Write a 10 m UTM GeoTIFF (tiled, uncompressed) for the file case."""
    import rasterio
    from rasterio.transform import from_origin

    profile = {
        "driver": "GTiff",
        "width": image.shape[2],
        "height": image.shape[1],
        "count": image.shape[0],
        "dtype": str(image.dtype),
        "nodata": 0,
        "crs": "EPSG:32633",
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "transform": from_origin(500000, 4000000, 10, 10),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(image)
    return path


# ---------------------------------------------------------------- the two engines


def ours_ensemble(args: argparse.Namespace, members: list[torch.nn.Module]) -> Ensemble:
    """Our ensemble for one variant: the embedded default itself (``--members default``, so its
    manifest's int8 qualification applies as for a new user) or copies of ``members``."""
    source: Any = "default" if args.members == "default" else copy.deepcopy(members)
    return load_ensemble(source, device=args.device, dtype=args.dtype, compile=args.compile,
                         backend=args.backend, int8=getattr(args, "int8", None))


def ours_runner(
    args: argparse.Namespace, members: list[torch.nn.Module], image: np.ndarray, workdir: Path,
    ensemble: Ensemble | None = None,
) -> Callable[[], np.ndarray | None]:
    """A no-argument callable running our engine once; returns the class map (array cases)."""
    ensemble = ensemble if ensemble is not None else ours_ensemble(args, members)
    options = InferenceOptions(patch_px=args.patch, overlap_px=args.overlap, batch_size=args.batch_size,
                               return_probabilities=False)
    if args.case == "tile_geotiff":
        path = write_geotiff(image, workdir / "scene.tif")

        def run_file() -> None:
            predict_file(
                path,
                workdir / "ours",
                ensemble=ensemble,
                read=ReadOptions(bands=(1, 2, 3), nodata=0),
                options=options,
                png=False,
                overwrite=True,
            )
            return None

        return run_file

    def run_array() -> np.ndarray:
        return predict_array(image, ensemble=ensemble, nodata=0, options=options).classes

    return run_array


def reference_runner(
    args: argparse.Namespace, members: list[torch.nn.Module], image: np.ndarray, workdir: Path
) -> Callable[[], np.ndarray | None]:
    """The same for the reference engine (``omnicloudmask``), given our members as custom models."""
    import omnicloudmask
    from omnicloudmask.data_loaders import load_multiband

    ref = REFERENCE_SETTINGS[args.reference_settings]
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    common = {
        "patch_size": args.patch,
        "patch_overlap": args.overlap,
        "batch_size": ref["batch_size"],
        "inference_device": device,
        "mosaic_device": device,
        "inference_dtype": _TORCH_DTYPES[str(ref["dtype"])],
        "compile_models": ref["compile"],
        "custom_models": copy.deepcopy(members),
        "no_data_value": 0,
    }
    if args.case == "tile_geotiff":
        path = workdir / "scene.tif"
        if not path.exists():
            write_geotiff(image, path)
        loader = functools.partial(load_multiband, band_order=[1, 2, 3])

        def run_file() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                omnicloudmask.predict_from_load_func(
                    [path], loader, output_dir=workdir / "ref", overwrite=True, **common
                )
            return None

        return run_file

    def run_array() -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(omnicloudmask.predict_from_array(image, **common))[0]

    return run_array


# ---------------------------------------------------------------- timing


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed(fn: Callable[[], np.ndarray | None]) -> tuple[float, float, np.ndarray | None, float | None]:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    _sync()
    with PeakRss() as mem:
        start = time.perf_counter()
        out = fn()
        _sync()
        seconds = time.perf_counter() - start
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return seconds, mem.delta_mb, out, gpu_mb


def run_case(args: argparse.Namespace) -> dict[str, Any]:
    """Run one case and return the result as a JSON-ready dict."""
    size = args.size or CASE_SIZES[args.case]
    members = make_members(args.members)
    image = make_image(size)
    with_reference = args.case != "memory" or args.with_reference
    before = load()
    with tempfile.TemporaryDirectory(prefix="ocm_bench_") as tmp:
        workdir = Path(tmp)
        engines = {}
        ensembles = {v.label: ours_ensemble(v.args, members) for v in _variants(args)}
        for variant in _variants(args):
            engines[variant.label] = ours_runner(variant.args, members, image, workdir, ensembles[variant.label])
        if with_reference:
            engines["reference"] = reference_runner(args, members, image, workdir)
        if args.warmup:
            # Warm-up (kernel selection, compilation) on one patch-sized image: every patch
            # has the same shape, so this primes what the timed runs use. Excluded from timing.
            small = make_image(min(size, args.patch), seed=1)
            warm_args = argparse.Namespace(**{**vars(args), "case": "cpu_small"})
            # The timed ensembles themselves are warmed (compiled requests keep their kernels).
            warm = [ours_runner(argparse.Namespace(**{**vars(v.args), "case": "cpu_small"}), members, small, workdir,
                                ensembles[v.label])
                    for v in _variants(args)]
            if with_reference:
                warm.append(reference_runner(warm_args, members, small, workdir))
            for fn in warm:
                for _ in range(args.warmup):
                    fn()
        runs: dict[str, list[float]] = {name: [] for name in engines}
        peak_mb: dict[str, float] = {name: 0.0 for name in engines}
        gpu_mb: dict[str, float | None] = {name: None for name in engines}
        outputs: dict[str, np.ndarray | None] = {}
        names = list(engines)
        for repeat in range(args.repeats):
            # Rotated order: no variant always runs right after the same one (e.g. after the
            # reference's large fp32 allocations), which biased the first variant by ~4 %.
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                fn = engines[name]
                seconds, rss, out, gpu = _timed(fn)
                runs[name].append(round(seconds, 3))
                peak_mb[name] = max(peak_mb[name], rss)
                gpu_mb[name] = gpu if gpu_mb[name] is None else max(gpu_mb[name] or 0.0, gpu or 0.0)
                outputs[name] = out
    input_f32_mb = round(image.size * 4 / 2**20, 1)
    result: dict[str, Any] = {
        "case": args.case,
        "machine": machine(),
        "load": {"before": before, "after": load()},
        "settings": {
            "size_px": size,
            "patch_px": args.patch,
            "overlap_px": args.overlap,
            "members": args.members,
            "device": args.device,
            "ours": {"dtype": _variants(args)[0].args.dtype or "auto", "backend": _variants(args)[0].args.backend,
                     "batch_size": args.batch_size or "auto", "compile": args.compile},
            "reference": REFERENCE_SETTINGS[args.reference_settings] | {"name": args.reference_settings}
            if with_reference
            else None,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "smoke": args.smoke,
        },
        "ours_s": min(runs["ours"]),
        "ours_runs_s": runs["ours"],
        "reference_s": min(runs["reference"]) if with_reference else None,
        "reference_runs_s": runs.get("reference"),
        "ratio": round(min(runs["reference"]) / min(runs["ours"]), 3) if with_reference else None,
        "ratio_median": round(statistics.median(runs["reference"]) / statistics.median(runs["ours"]), 3)
        if with_reference
        else None,
        # Each repeat runs ours then the reference back to back: the median of the per-pair
        # ratios is the estimate least moved by load that drifts between repeats.
        "ratio_paired_median": round(
            statistics.median(r / o for r, o in zip(runs["reference"], runs["ours"], strict=True)), 3
        )
        if with_reference
        else None,
        "input_float32_mb": input_f32_mb,
        "peak_host_rss_mb": peak_mb,
        "ours_peak_over_input_float32": round(peak_mb["ours"] / input_f32_mb, 3),
        "peak_gpu_mb": gpu_mb if torch.cuda.is_available() else None,
    }
    ours_out, ref_out = outputs.get("ours"), outputs.get("reference")
    valid = (image != 0).any(axis=0)
    if ours_out is not None and ref_out is not None:
        result["class_agreement"] = round(float((ours_out[valid] == ref_out[valid]).mean()), 6)
    patch, overlap = fit_patch(size, size, args.patch, args.overlap)
    patch_mpx = len(patch_windows(size, size, patch, overlap)) * patch * patch / 1e6
    result["patch_mpx"] = round(patch_mpx, 3)
    result["variants"] = {}
    for variant in _variants(args):
        times = runs[variant.label]
        entry: dict[str, Any] = {"backend": variant.args.backend, "dtype": variant.args.dtype or "auto",
                                 "s": min(times), "runs_s": times}
        if with_reference:
            entry["ratio"] = round(min(runs["reference"]) / min(times), 3)
            entry["ratio_paired_median"] = round(
                statistics.median(r / o for r, o in zip(runs["reference"], times, strict=True)), 3)
        out = outputs.get(variant.label)
        if out is not None and ref_out is not None:
            entry["class_agreement_reference"] = round(float((out[valid] == ref_out[valid]).mean()), 6)
        if args.members in ("v4", "default"):  # the same two architectures
            entry["gflops_achieved"] = round(V4_GFLOP_PER_MPX * patch_mpx / min(times), 1)
        result["variants"][variant.label] = entry
    if args.roofline:
        result["roofline"] = roofline(args)
        best = result["roofline"].get("bf16_gflops")
        best_int8 = result["roofline"].get("int8_gflops")
        for entry in result["variants"].values():
            if best and "gflops_achieved" in entry:
                entry["share_of_bf16_matmul"] = round(entry["gflops_achieved"] / best, 3)
            if best_int8 and "gflops_achieved" in entry:
                entry["share_of_int8_matmul"] = round(entry["gflops_achieved"] / best_int8, 3)
    return result


class Variant:
    """One of our settings in a side-by-side run: a label and the arguments it runs with."""

    def __init__(self, label: str, args: argparse.Namespace) -> None:
        self.label = label
        self.args = args


def _variants(args: argparse.Namespace) -> list[Variant]:
    """Our settings to time: ``--variants backend:dtype,...`` or the single ``--backend/--dtype``.

    The first is labelled ``ours`` (the headline ``ours_s`` and ``ratio``); the others
    ``ours[backend:dtype]``.
    """
    specs = [v.strip() for v in (args.variants or "").split(",") if v.strip()]
    if not specs:
        return [Variant("ours", args)]
    out = []
    for index, spec in enumerate(specs):
        backend, _, dtype = spec.partition(":")
        label = "ours" if index == 0 else f"ours[{backend}:{dtype or 'auto'}]"
        # int8: convolutional members int8, the rest at the CPU's float default; an explicit float
        # dtype runs every member in float; "auto" takes the engine's own choice (None).
        int8 = True if dtype == "int8" else (None if dtype in ("", "auto") else False)
        dtype = None if dtype in ("", "auto", "int8") else dtype
        out.append(Variant(label, argparse.Namespace(**{**vars(args), "backend": backend, "dtype": dtype,
                                                        "int8": int8})))
    return out


def roofline(args: argparse.Namespace, n: int = 2048, repeats: int = 5) -> dict[str, Any]:
    """The compiled runtime's best large matrix multiply on these cores, in GFLOP/s.

    An ``n x n`` by ``n x n`` MatMul (2 n^3 FLOP) compiled by OpenVINO at f32 and at bf16, run
    ``repeats`` times after a warm-up; the fastest run counts. ``None`` when OpenVINO is absent.
    """
    try:
        import openvino as ov
        import openvino.opset13 as ops
    except ImportError:
        return {"runtime": None}
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((n, n), dtype=np.float32)
    data = rng.standard_normal((n, n), dtype=np.float32)
    param = ops.parameter([n, n], np.float32, name="x")
    model = ov.Model([ops.matmul(param, ops.constant(weight), False, False)], [param], "roofline")
    core = ov.Core()
    out: dict[str, Any] = {"runtime": f"openvino {ov.__version__}", "n": n, "threads": torch.get_num_threads()}

    def gflops(matmul: Any, hint: str) -> float:
        compiled = core.compile_model(matmul, "CPU", {"INFERENCE_PRECISION_HINT": hint,
                                                      "INFERENCE_NUM_THREADS": torch.get_num_threads()})
        request = compiled.create_infer_request()
        request.infer({0: data})
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            request.infer({0: data})
            best = min(best, time.perf_counter() - start)
        return round(2 * n**3 / best / 1e9, 1)

    for hint in ("f32", "bf16"):
        out[f"{hint}_gflops"] = gflops(model, hint)
    try:  # the same matmul quantized to int8 by NNCF (weights and activations), float parts bf16
        import nncf

        from ocm_engine.backends.quantize import _quiet  # NNCF's progress bars would break the JSON on stdout

        with _quiet():
            quantized = nncf.quantize(model, nncf.Dataset([data]), subset_size=1)
    except ImportError:
        return out
    out["int8_gflops"] = gflops(quantized, "bf16")
    return out


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (``--help`` lists them)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=sorted(CASE_SIZES), default="cpu_small")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (default: cpu)")
    parser.add_argument("--dtype", default=None, help="ours: fp32, fp16, bf16 (default: device's)")
    parser.add_argument("--size", type=int, default=None, help="square side in px (default: the case's)")
    parser.add_argument("--members", choices=("v4", "default", "tiny", "micro"), default="v4",
                        help="v4: random-weight v4 architectures; default: the embedded default model (the same "
                             "architectures, trained; the reference gets its PyTorch members)")
    parser.add_argument("--patch", type=int, default=1000)
    parser.add_argument("--overlap", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=None, help="ours (default: from free memory)")
    parser.add_argument("--compile", action="store_true", help="ours: torch.compile the members")
    parser.add_argument("--backend", choices=("auto", "torch", "openvino"), default="auto",
                        help="ours: what runs the members (default auto: OpenVINO on the CPU when installed)")
    parser.add_argument("--variants", default="",
                        help="several of ours side by side, e.g. torch:bf16,openvino:fp32,openvino:bf16")
    parser.add_argument("--roofline", action="store_true",
                        help="also measure the runtime's best large f32/bf16 matmul GFLOP/s and our share")
    parser.add_argument("--reference-settings", choices=sorted(REFERENCE_SETTINGS), default="default")
    parser.add_argument("--with-reference", action="store_true", help="memory case: also run the reference")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--save", action="store_true", help="also write bench/results/<case>_<time>.json")
    parser.add_argument("--smoke", action="store_true", help="tiny members and sizes (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.members, args.size, args.patch, args.overlap = "micro", args.size or 160, 96, 24
        args.warmup, args.repeats = 0, 1
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print its JSON, optionally save it; returns the result."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_case(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.save:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (RESULTS_DIR / f"{args.case}_{args.members}_{args.device.replace(':', '')}_{stamp}.json").write_text(text)
    return result


if __name__ == "__main__":
    main()
