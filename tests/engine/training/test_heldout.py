"""Held-out matrix and learning curve on a tiny packed set and random members."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ocm_engine import load_ensemble
from ocm_engine.models.registry import build_member
from ocm_engine.training import ANY_CLOUD, CLEAR
from ocm_engine.training.heldout import PRODUCTS, format_matrix, heldout_matrix, learning_curve
from ocm_engine.training.train import export_member


def _pack(folder: Path) -> None:
    folder.mkdir()
    rng = np.random.default_rng(0)
    image = (rng.random((4, 192, 192)) * 0.3 + 0.02).astype(np.float16)
    expert = np.full((192, 192), CLEAR, np.uint8)
    expert[:60] = ANY_CLOUD
    meta = {"name": "oncloudn_t", "dataset": "oncloudn", "split": "validation", "resolution_m": 10.0}
    np.savez_compressed(
        folder / "oncloudn_t.npz",
        image=image, label=expert, expert=expert, teacher=expert * 0, meta=np.array(json.dumps(meta)),
    )


def test_heldout_matrix_covers_resolutions_and_products(tmp_path: Path) -> None:
    _pack(tmp_path / "packed")
    torch.manual_seed(0)
    ensemble = load_ensemble([build_member("test_resnet").eval()], device="cpu", dtype="fp32")
    rows = heldout_matrix(ensemble, tmp_path / "packed", with_peer=False)
    conditions = {r.condition for r in rows}
    # Source (10 m, its own uint16 product), 20 and 30 m, and the three product ranges at 10 m.
    assert conditions == {"10 m, uint16 x10000", "20 m, uint16 x10000", "30 m, uint16 x10000"} | {
        f"10 m, {p}" for p in PRODUCTS if p != "uint16 x10000"
    }
    for row in rows:
        assert row.result.classes == ("clear", "cloud")
        assert row.result.confusion.sum() == 192 * 192  # every pixel scored on the source grid
    assert "| oncloudn | 20 m, uint16 x10000 | ocm-studio |" in format_matrix(rows)


def test_learning_curve_scores_kept_snapshots(tmp_path: Path) -> None:
    _pack(tmp_path / "packed")
    run = tmp_path / "run"
    run.mkdir()
    for step in (2, 4, 6):
        export_member(build_member("test_resnet"), run / f"snap_{step:06d}.safetensors")
    curve = learning_curve({"test_resnet": run}, tmp_path / "packed", every=2, out_json=tmp_path / "c.json")
    assert [p["step"] for p in curve] == [2.0, 6.0]  # every 2nd, and always the last
    assert 0.0 <= curve[0]["oncloudn/cloud_f1"] <= 1.0
    assert json.loads((tmp_path / "c.json").read_text()) == curve
    assert not any(k.startswith("train:") for k in curve[0])


def test_learning_curve_scores_the_training_fit_too(tmp_path: Path) -> None:
    _pack(tmp_path / "packed")
    rng = np.random.default_rng(1)
    expert = np.full((128, 128), CLEAR, np.uint8)
    expert[:40] = ANY_CLOUD
    for name, dataset, labels in (("ukis_t", "ukis", expert), ("s2chips_t", "s2chips", expert * 0 + 255)):
        meta = {"name": name, "dataset": dataset, "split": "train", "resolution_m": 30.0}
        np.savez_compressed(
            tmp_path / "packed" / f"{name}.npz", image=(rng.random((4, 128, 128)) * 0.3).astype(np.float16),
            label=labels, expert=labels, teacher=labels * 0, meta=np.array(json.dumps(meta)),
        )
    run = tmp_path / "run"
    run.mkdir()
    export_member(build_member("test_resnet"), run / "snap_000002.safetensors")
    (point,) = learning_curve({"test_resnet": run}, tmp_path / "packed", train_fit=True)
    # Held-out and training scenes apart; the unlabelled training scene is not scored.
    assert set(point) == {"step", "oncloudn/cloud_f1", "train:ukis/cloud_f1", "train:ukis/shadow_f1"}
