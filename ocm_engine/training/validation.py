"""The held-out validation table and the 10/20/30 m consistency check (model card numbers).

Scores the ensemble and ukis-csmask on the packed ``validation`` scenes (never trained
on), each in the scheme its labels support:

* ``ukis`` (Landsat 7, ~30 m, TOA): clear / cloud / shadow;
* ``oncloudn`` (Sentinel-2 L2A, 10 m): clear / cloud (shadow pixels are inside 'clear');
* ``alberta`` (Sentinel-2 L2A, ~30 m, 8-bit RGB + NIR): painted shadow vs everything else.

ukis-csmask's masks are the ones stored at pack time (same input, Blue added).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from ocm_engine.options import InferenceOptions
from ocm_engine.training import ANY_CLOUD, CLEAR, IGNORE, SHADOW
from ocm_engine.training.data import (
    DEFAULT_PACK_DIR,
    LANDSAT8_L1_GAIN,
    LANDSAT8_L1_OFFSET,
    PackedScene,
    Split,
    load_packed,
)
from ocm_engine.training.evaluate import (
    PEER_TO_MODEL,
    EvalResult,
    confusion_matrix,
    encode_prediction,
    format_table,
    result_to_dict,
    scores_from_confusion,
)

_SCHEMES: dict[str, tuple[str, ...]] = {
    "ukis": ("clear", "cloud", "shadow"),
    "oncloudn": ("clear", "cloud"),
    "alberta": ("clear", "shadow"),
    "38cloud": ("clear", "cloud"),
}


def reference_indices(scene: PackedScene) -> tuple[tuple[str, ...], npt.NDArray[np.int64]]:
    """The scheme of a validation scene and its expert labels as scheme indices (-1 unknown)."""
    scheme = _SCHEMES[scene.dataset]
    ref = np.full(scene.expert.shape, -1, np.int64)
    ref[scene.expert == CLEAR] = 0
    if "cloud" in scheme:
        ref[scene.expert == ANY_CLOUD] = scheme.index("cloud")
    if "shadow" in scheme:
        ref[scene.expert == SHADOW] = scheme.index("shadow")
    ref[scene.expert == IGNORE] = -1
    return scheme, ref


def native_product(
    scene: PackedScene, reflectance: npt.NDArray[np.float32] | None = None
) -> tuple[str, npt.NDArray[np.generic]]:
    """The model input in the scene's own product range, as a user would pass the file.

    Args:
        scene: A packed scene.
        reflectance: Red, Green, NIR reflectance to express (e.g. a coarser copy of the
            scene); the scene's own when ``None``.

    Returns:
        The product's name and the ``(3, h, w)`` array in its dtype.
    """
    rgb_nir = scene.image[:3].astype(np.float32) if reflectance is None else reflectance
    if scene.dataset == "oncloudn":
        return "uint16 x10000", np.clip(np.round(rgb_nir * 10000), 0, 65535).astype(np.uint16)
    if scene.dataset == "38cloud":
        dn = np.round((rgb_nir - LANDSAT8_L1_OFFSET) / LANDSAT8_L1_GAIN)
        return "uint16 L1 DN", np.where(rgb_nir == 0, 0, dn).astype(np.uint16)
    return "float reflectance", rgb_nir.astype(np.float32)


def validate(
    ensemble: object,
    pack_dir: Path = DEFAULT_PACK_DIR,
    options: InferenceOptions | None = None,
    *,
    split: Split = "validation",
) -> list[tuple[str, str, EvalResult]]:
    """Score the ensemble and ukis-csmask on every validation scene, pooled per dataset.

    Args:
        ensemble: A loaded ensemble.
        pack_dir: Folder of packed scenes.
        options: Inference options for our model (e.g. ``InferenceOptions(tta=True)``).
        split: ``"train"`` scores the expert-labelled *training* scenes instead (how well
            the model fits what it learnt from, beside how well it generalises).

    Returns:
        Rows ``(dataset, model, result)``.
    """
    from ocm_engine import predict_array

    pooled: dict[tuple[str, str], npt.NDArray[np.int64]] = {}
    schemes: dict[str, tuple[str, ...]] = {}
    for scene in load_packed(pack_dir, split=split):
        if scene.dataset not in _SCHEMES or (scene.expert == IGNORE).all():
            continue
        scheme, ref = reference_indices(scene)
        schemes[scene.dataset] = scheme
        pred = predict_array(native_product(scene)[1], ensemble=ensemble, options=options)  # type: ignore[arg-type]
        ref = np.where(pred.valid, ref, -1)
        peer = PEER_TO_MODEL[np.minimum(scene.teacher, 2)]
        for model, classes in (("ocm-studio", pred.classes), ("ukis-csmask", peer)):
            cm = confusion_matrix(ref, encode_prediction(classes, scheme), len(scheme))
            key = (scene.dataset, model)
            pooled[key] = pooled.get(key, 0) + cm
    return [(d, m, scores_from_confusion(cm, schemes[d])) for (d, m), cm in sorted(pooled.items())]


def resolution_consistency(
    ensemble: object, scene: PackedScene, factors: tuple[int, ...] = (1, 2, 3)
) -> dict[str, float]:
    """Predict one 10 m scene at 10/20/30 m and compare masks on the 10 m grid.

    Coarser versions are area-averaged; their masks are brought back with nearest
    neighbour. Returns, per factor, the pixel agreement with the 10 m mask and the cloud
    F1 against the expert labels.
    """
    from ocm_engine import predict_array

    base = np.round(scene.image[:3] * 10000).astype(np.float32)
    _, height, width = base.shape
    scheme, ref = reference_indices(scene)
    out: dict[str, float] = {}
    full: npt.NDArray[np.uint8] | None = None
    for factor in factors:
        if factor == 1:
            image = base
        else:
            image = F.avg_pool2d(torch.from_numpy(base)[None], factor)[0].numpy()
        classes = predict_array(image, ensemble=ensemble).classes  # type: ignore[arg-type]
        up = (
            F.interpolate(torch.from_numpy(classes)[None, None].float(), size=(height, width), mode="nearest")[0, 0]
            .numpy()
            .astype(np.uint8)
        )
        if full is None:
            full = up
        res = int(scene.resolution_m * factor)
        merged = encode_prediction(up, scheme)
        out[f"agreement_{res}m_vs_{int(scene.resolution_m)}m"] = float(
            (encode_prediction(full, scheme) == merged).mean()
        )
        result = scores_from_confusion(confusion_matrix(ref, merged, len(scheme)), scheme)
        out[f"cloud_f1_{res}m"] = result.score("cloud").f1
    return out


def run_validation(args: argparse.Namespace) -> int:
    """Print the validation table and the consistency check (``evaluate --validation``)."""
    from ocm_engine import load_ensemble

    pack_dir = Path(args.pack_dir) if args.pack_dir else DEFAULT_PACK_DIR
    torch.set_num_threads(2)
    ensemble = load_ensemble(args.model, device="cpu")
    start = time.perf_counter()
    rows = validate(ensemble, pack_dir, InferenceOptions(tta=bool(getattr(args, "tta", False))))
    print(format_table(rows))
    print(f"\n(scored in {time.perf_counter() - start:.1f} s, ukis-csmask's masks precomputed)")
    oncloudn = [s for s in load_packed(pack_dir, split="validation") if s.dataset == "oncloudn"]
    consistency = resolution_consistency(ensemble, oncloudn[0]) if oncloudn else {}
    if oncloudn:
        print(f"\nresolution consistency ({oncloudn[0].name}):")
        for key, value in consistency.items():
            print(f"  {key}: {value:.3f}")
    if args.json:
        payload = {f"{d}/{m}": result_to_dict(r) for d, m, r in rows}
        payload["consistency"] = consistency  # type: ignore[assignment]
        Path(args.json).write_text(json.dumps(payload, indent=2))
    return 0
