"""Held-out evaluation by resolution and product range, and the learning curve of a run.

Both extend the model card's pooled table (:func:`ocm_engine.training.validation.validate`):

* :func:`heldout_matrix` scores the ensemble and ukis-csmask on the same pixels of every
  held-out scene at the source resolution and at 10, 20 and 30 m where the source allows
  (area-averaged; masks brought back to the source grid by nearest neighbour and scored
  against the source labels), and at the source resolution in three product ranges
  (uint16 reflectance x 10000, float reflectance, an 8-bit stretch that clips bright
  cloud). ukis-csmask always gets float reflectance with Blue (it needs both), so its
  row does not change with the product range.
* :func:`learning_curve` scores the kept snapshots of two member runs (steps present in
  both) as an ensemble on the held-out scenes: held-out F1 against training steps.

Arrays are ``(bands, height, width)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from ocm_engine.training.data import (
    DEFAULT_PACK_DIR,
    PackedScene,
    Split,
    load_packed,
)
from ocm_engine.training.evaluate import PEER_TO_MODEL, EvalResult, encode_prediction
from ocm_engine.training.validation import native_product, reference_indices

#: How a product stores reflectance (input float32 reflectance, Red/Green/NIR).
PRODUCTS: Final[dict[str, Callable[[npt.NDArray[np.float32]], npt.NDArray[np.generic]]]] = {
    "uint16 x10000": lambda r: np.clip(np.round(r * 10000.0), 0, 65535).astype(np.uint16),
    "float reflectance": lambda r: r.astype(np.float32),
    "8-bit (x2.5 stretch)": lambda r: np.clip(np.round(r * 2.5 * 255.0), 0, 255).astype(np.uint8),
}


@dataclass(frozen=True, slots=True)
class HeldoutRow:
    """One pooled score: a dataset under one condition, for one model.

    Attributes:
        dataset: Held-out dataset key.
        condition: ``"<resolution> m, <product>"``.
        model: ``"ocm-studio"`` or ``"ukis-csmask"``.
        result: Scores in the dataset's label scheme.
    """

    dataset: str
    condition: str
    model: str
    result: EvalResult


def _pool(image: npt.NDArray[np.float32], factor: int) -> npt.NDArray[np.float32]:
    if factor == 1:
        return image
    pooled: npt.NDArray[np.float32] = F.avg_pool2d(torch.from_numpy(np.ascontiguousarray(image)), factor).numpy()
    return pooled


def _to_grid(classes: npt.NDArray[np.generic], shape: tuple[int, int]) -> npt.NDArray[np.uint8]:
    rows = np.minimum((np.arange(shape[0]) * classes.shape[0]) // shape[0], classes.shape[0] - 1)
    cols = np.minimum((np.arange(shape[1]) * classes.shape[1]) // shape[1], classes.shape[1] - 1)
    return np.asarray(classes[rows[:, None], cols[None, :]], dtype=np.uint8)


def _conditions(scene: PackedScene, resolutions: Sequence[float]) -> list[tuple[int, str | None]]:
    """(pooling factor, product or None for native) pairs to score for a scene."""
    out: list[tuple[int, str | None]] = [(1, None)]
    for res in resolutions:
        factor = res / scene.resolution_m
        if factor > 1 and abs(factor - round(factor)) < 1e-6:
            out.append((round(factor), None))
    out.extend((1, name) for name in PRODUCTS)
    return out


def heldout_matrix(
    ensemble: object,
    pack_dir: Path = DEFAULT_PACK_DIR,
    *,
    resolutions: Sequence[float] = (10.0, 20.0, 30.0),
    with_peer: bool = True,
    tta: bool = False,
) -> list[HeldoutRow]:
    """Score ours and ukis-csmask per held-out dataset, resolution and product range.

    Args:
        ensemble: A loaded :class:`~ocm_engine.models.ensemble.Ensemble`.
        pack_dir: Folder of packed scenes.
        resolutions: Coarser resolutions to add where the source divides them evenly.
        with_peer: Also run ukis-csmask on the same (degraded) input.
        tta: Run ours with test-time augmentation.

    Returns:
        Rows pooled per (dataset, condition, model).
    """
    from ocm_engine import predict_array
    from ocm_engine.metrics import confusion_matrix, scores_from_confusion
    from ocm_engine.options import InferenceOptions
    from ocm_engine.training.teacher import run_teacher

    options = InferenceOptions(tta=tta)
    pooled: dict[tuple[str, str, str], npt.NDArray[np.int64]] = {}
    schemes: dict[str, tuple[str, ...]] = {}
    for scene in load_packed(pack_dir, split="validation"):
        scheme, ref = reference_indices(scene)
        schemes[scene.dataset] = scheme
        shape = (int(ref.shape[0]), int(ref.shape[1]))
        level = "l1c" if scene.dataset in ("ukis", "38cloud") else "l2a"
        seen: set[str] = set()
        for factor, product in _conditions(scene, resolutions):
            refl4 = _pool(scene.image.astype(np.float32), factor)
            if product is None:
                name, image = native_product(scene, refl4[:3])
            else:
                name, image = product, PRODUCTS[product](refl4[:3])
            condition = f"{scene.resolution_m * factor:g} m, {name}"
            if condition in seen:  # a product range that is the scene's own
                continue
            seen.add(condition)
            pred = predict_array(image, ensemble=ensemble, nodata=0, options=options)  # type: ignore[arg-type]
            models = [("ocm-studio", _to_grid(pred.classes, shape))]
            if with_peer and (product is None or factor == 1):
                peer = run_teacher(refl4, scene.resolution_m * factor, level)  # type: ignore[arg-type]
                models.append(("ukis-csmask", _to_grid(PEER_TO_MODEL[np.minimum(peer, 2)], shape)))
            valid = _to_grid(pred.valid.astype(np.uint8), shape).astype(bool)
            for model, classes in models:
                scored = np.where(valid, ref, -1)
                cm = confusion_matrix(scored, encode_prediction(classes, scheme), len(scheme))
                key = (scene.dataset, condition, model)
                pooled[key] = pooled.get(key, 0) + cm
    return [HeldoutRow(d, c, m, scores_from_confusion(cm, schemes[d])) for (d, c, m), cm in sorted(pooled.items())]


def format_matrix(rows: Sequence[HeldoutRow]) -> str:
    """Markdown table: dataset, condition, model, cloud F1, shadow F1, balanced accuracy."""
    lines = [
        "| held-out set | condition | model | cloud F1 | shadow F1 | balanced acc. |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        names = row.result.classes
        cloud = f"{row.result.score('cloud').f1:.3f}" if "cloud" in names else "—"
        shadow = f"{row.result.score('shadow').f1:.3f}" if "shadow" in names else "—"
        lines.append(
            f"| {row.dataset} | {row.condition} | {row.model} | {cloud} | {shadow} | "
            f"{row.result.balanced_accuracy:.3f} |"
        )
    return "\n".join(lines)


def learning_curve(
    runs: dict[str, Path],
    pack_dir: Path = DEFAULT_PACK_DIR,
    *,
    every: int = 1,
    out_json: Path | None = None,
    train_fit: bool = False,
) -> list[dict[str, float]]:
    """Held-out F1 of the two-member ensemble at every snapshot step both runs kept.

    Args:
        runs: Architecture key -> run folder holding ``snap_<step>.safetensors``.
        pack_dir: Folder of packed scenes.
        every: Score every n-th common snapshot (the last one always).
        out_json: Also write the curve here.
        train_fit: Also score the expert-labelled training scenes (keys ``train:...``): a
            training fit that keeps rising while held-out F1 stays flat means the data,
            not the compute, limits the model.

    Returns:
        One dict per step: ``step`` and ``<dataset>/<class>_f1`` for cloud and shadow.
    """
    from ocm_engine import load_ensemble
    from ocm_engine.training.train import load_checkpoint_model
    from ocm_engine.training.validation import validate

    steps_per_run = [{int(p.stem.split("_")[1]) for p in run.glob("snap_*.safetensors")} for run in runs.values()]
    common = sorted(set.intersection(*steps_per_run)) if steps_per_run else []
    chosen = [s for i, s in enumerate(common) if i % every == 0 or s == common[-1]]
    curve: list[dict[str, float]] = []
    for step in chosen:
        members = [load_checkpoint_model(run / f"snap_{step:06d}.safetensors", arch) for arch, run in runs.items()]
        ensemble = load_ensemble(members, device="cpu")
        point: dict[str, float] = {"step": float(step)}
        splits: list[Split] = ["validation", "train"] if train_fit else ["validation"]
        for split in splits:
            prefix = "train:" if split == "train" else ""
            for dataset, model, result in validate(ensemble, pack_dir, split=split):
                if model != "ocm-studio":
                    continue
                for name in ("cloud", "shadow"):
                    if name in result.classes:
                        point[f"{prefix}{dataset}/{name}_f1"] = round(result.score(name).f1, 4)
        curve.append(point)
        print(json.dumps(point), flush=True)
        if out_json is not None:
            out_json.write_text(json.dumps(curve, indent=2))
    return curve
