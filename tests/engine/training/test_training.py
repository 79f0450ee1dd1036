"""Tests of the training package: synthesis, augmentation, loss/loop, export round trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ocm_engine.errors import InvalidImageError, ModelLoadError
from ocm_engine.models.ensemble import load_ensemble
from ocm_engine.models.registry import build_member
from ocm_engine.synthetic import SynthConfig, add_clouds, fractal_noise
from ocm_engine.training import ANY_CLOUD, CLEAR, IGNORE, SHADOW, THICK, THIN
from ocm_engine.training.augment import (
    add_nodata_edge,
    augment_chip,
    flip_rotate,
    rescale_crop,
    sample_target_resolution,
)
from ocm_engine.training.synth import PRODUCT_RANGES, to_product_range
from ocm_engine.training.train import export_ensemble, export_member, masked_loss


def _background(size: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    field = fractal_noise((size, size), 10.0, 2000.0, rng)
    veg = 0.05 + 0.02 * field
    return np.stack([veg, veg * 1.2, 0.3 + 0.05 * field]).astype(np.float32)


def test_fractal_noise_is_normalised_and_scale_aware() -> None:
    rng = np.random.default_rng(0)
    fine = fractal_noise((128, 128), 30.0, 600.0, rng, octaves=1)
    coarse = fractal_noise((128, 128), 10.0, 600.0, rng, octaves=1)
    assert fine.shape == (128, 128) and fine.dtype == np.float32
    assert abs(float(fine.mean())) < 1e-4 and abs(float(fine.std()) - 1) < 1e-3
    # Same 600 m cells are 20 px at 30 m but 60 px at 10 m: smoother neighbour differences.
    assert np.abs(np.diff(coarse, axis=1)).mean() < np.abs(np.diff(fine, axis=1)).mean()


def test_synthetic_thick_cloud_labels_are_exact() -> None:
    rng = np.random.default_rng(1)
    bg = _background()
    config = SynthConfig(p_thick=1.0, p_thin=0.0, p_shadow=0.0)
    image, label = add_clouds(bg, 30.0, rng, config=config)
    assert image.shape == bg.shape and label.shape == bg.shape[1:]
    # Without a thin layer nothing is thin: a thick cloud's soft edge is cloud of unknown
    # thickness (or unknown when faint), never a thin-cloud halo.
    assert set(np.unique(label)) == {CLEAR, THICK, ANY_CLOUD, IGNORE}
    thick = label == THICK
    assert thick.any()
    rim = label == ANY_CLOUD
    assert bg[:, rim].mean() < image[:, rim].mean() < image[:, thick].mean()
    # Thick pixels are bright and white; clear pixels change by at most a trace (opacity <= 0.06).
    assert image[:, thick].mean() > 0.25
    clear = label == CLEAR
    assert np.abs(image[:, clear] - bg[:, clear]).max() < 0.06


def test_synthetic_shadow_darkens_nir_most_and_is_labelled() -> None:
    config = SynthConfig(p_thick=1.0, p_thin=0.0, p_shadow=1.0)
    for seed in range(10):
        rng = np.random.default_rng(seed)
        bg = _background(128)
        image, label = add_clouds(bg, 30.0, rng, config=config)
        shadow = label == SHADOW
        if shadow.sum() > 50:
            break
    else:
        pytest.fail("no shadow in 10 draws")
    ratio = image[:, shadow] / bg[:, shadow]
    assert (ratio < 1.0).mean() > 0.95  # darkened (a trace of cloud may overlap a few)
    assert ratio[2].mean() <= ratio[0].mean() + 1e-6  # NIR darkened at least as much as Red
    assert ratio[2].mean() < 0.6


def test_synthetic_thin_cloud_keeps_surface_visible() -> None:
    rng = np.random.default_rng(3)
    bg = _background()
    image, label = add_clouds(bg, 20.0, rng, config=SynthConfig(p_thick=0.0, p_thin=1.0))
    thin = label == THIN
    assert thin.any() and not (label == THICK).any()
    diff = image[:, thin] - bg[:, thin]
    assert (diff > 0).mean() > 0.9 and diff.max() < 0.5
    # The surface still shows through: transmittance is at least 0.4.
    assert (image[:, thin] >= 0.4 * bg[:, thin] - 1e-6).all()


def test_synthetic_keeps_base_labels() -> None:
    rng = np.random.default_rng(4)
    base = np.full((96, 96), CLEAR, np.uint8)
    base[:10] = ANY_CLOUD
    _, label = add_clouds(_background(), 30.0, rng, base_label=base, config=SynthConfig(p_thick=0.0, p_thin=0.0))
    assert (label[:10] == ANY_CLOUD).all() and (label[10:] == CLEAR).all()


def test_add_clouds_rejects_bad_shape() -> None:
    with pytest.raises(InvalidImageError) as shape:
        add_clouds(np.zeros((4, 8, 8), np.float32), 10.0, np.random.default_rng())
    assert (shape.value.subject, shape.value.arrived) == ("Background", (4, 8, 8))


@pytest.mark.parametrize("product", PRODUCT_RANGES)
def test_product_ranges(product: str) -> None:
    rng = np.random.default_rng(0)
    refl = np.full((3, 4, 4), 0.2, np.float32)
    refl[:, 0, 0] = 0.0  # nodata
    refl[:, 1, 1] = 1.2  # bright cloud
    out = to_product_range(refl, product, rng)  # type: ignore[arg-type]
    assert (out[:, 0, 0] == 0).all() and (out[:, 1:, 1:] > 0).all()
    expected = {"reflectance": np.float32, "byte": np.uint8}.get(product, np.uint16)
    assert out.dtype == expected
    if product == "byte":
        assert out[0, 1, 1] == 255  # saturated


def test_rescale_crop_shapes_and_label_codes() -> None:
    rng = np.random.default_rng(0)
    image = np.random.default_rng(1).random((3, 300, 300)).astype(np.float32)
    label = np.zeros((300, 300), np.uint8)
    label[:, 150:] = SHADOW
    out_img, out_lab = rescale_crop(image, label, 10.0, 20.0, 64, rng)
    assert out_img.shape == (3, 64, 64) and out_lab.shape == (64, 64)
    assert set(np.unique(out_lab)) <= {CLEAR, SHADOW}
    target = sample_target_resolution(30.0, 192, 512, rng)
    assert 30.0 / 1.11 - 1e-6 <= target <= 50.0


def test_flip_rotate_moves_labels_with_image() -> None:
    rng = np.random.default_rng(2)
    image = np.zeros((3, 16, 16), np.float32)
    label = np.zeros((16, 16), np.uint8)
    image[:, 2:5, 9:14] = 1.0
    label[2:5, 9:14] = THICK
    for _ in range(8):
        img2, lab2 = flip_rotate(image, label, rng)
        assert np.array_equal(img2[0] == 1.0, lab2 == THICK)


def test_nodata_edge_and_augment_chip() -> None:
    rng = np.random.default_rng(5)
    image = (np.random.default_rng(0).random((3, 64, 64)) * 1000 + 1).astype(np.uint16)
    label = np.ones((64, 64), np.uint8)
    img2, lab2 = add_nodata_edge(image, label, rng)
    assert ((img2 == 0).all(axis=0) == (lab2 == IGNORE)).all()
    for seed in range(5):
        out, lab = augment_chip(
            image, label, np.random.default_rng(seed), p_nodata=1.0, p_corrupt=1.0, p_saturate=1.0, p_blur=1.0
        )
        assert out.shape == (3, 64, 64) and out.dtype == np.float32 and lab.shape == (64, 64)
        valid = lab != IGNORE
        assert np.all(out[:, ~valid] == 0)
        assert abs(float(out[0][valid].mean())) < 1e-3  # z-scored over valid pixels


def test_masked_loss_handles_any_cloud_and_ignore() -> None:
    logits = torch.zeros(1, 4, 1, 3)
    logits[0, 1, 0, 0] = 5.0  # thick
    logits[0, 2, 0, 1] = 5.0  # thin
    target = torch.tensor([[[ANY_CLOUD, ANY_CLOUD, IGNORE]]])
    loss = masked_loss(logits, target)
    # Both known pixels put ~all mass on thick or thin: loss near -log(e^5/(e^5+3)).
    expected = -np.log(np.exp(5) / (np.exp(5) + 3)) + 0.0
    expected_any = -np.log((np.exp(5) + 1) / (np.exp(5) + 3))
    assert float(loss) == pytest.approx(expected_any, rel=1e-4)
    assert float(loss) < expected
    assert float(masked_loss(logits, torch.full((1, 1, 3), IGNORE))) == 0.0


def test_masked_loss_soft_targets_mix_clear_and_cloud() -> None:
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 2, 5)
    soft = torch.tensor([[[100, 200, 130, 170, 150]] * 2])
    hard = {100: CLEAR, 200: ANY_CLOUD}
    for code, equal in hard.items():
        # Probability 0 is the hard clear target, 1 the hard 'any cloud' target.
        assert float(masked_loss(logits, torch.full((1, 2, 5), code))) == pytest.approx(
            float(masked_loss(logits, torch.full((1, 2, 5), equal))), rel=1e-5
        )
    q = torch.tensor([0.0, 1.0, 0.3, 0.7, 0.5])
    log_p = torch.log_softmax(logits, dim=1)
    expected = -(q * torch.logsumexp(log_p[:, 1:3], dim=1) + (1 - q) * log_p[:, 0]).mean()
    assert float(masked_loss(logits, soft)) == pytest.approx(float(expected), rel=1e-5)
    # Codes outside the documented ranges are not targets.
    assert float(masked_loss(logits, torch.full((1, 2, 5), 50))) == 0.0


def test_weight_average_follows_the_model_slowly() -> None:
    from ocm_engine.training.train import WeightAverage

    torch.manual_seed(0)
    model = build_member("test_resnet")
    average = WeightAverage(model, decay=0.9)
    key = next(k for k, v in model.state_dict().items() if v.is_floating_point() and v.ndim == 4)
    start = model.state_dict()[key].clone()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(1.0)
    average.update(model, step=0)  # decay ramps: min(0.9, 1/10) = 0.1 at step 0
    assert torch.allclose(average.model.state_dict()[key], start + 0.9, atol=1e-5)
    average.update(model, step=1000)  # then the full decay
    assert torch.allclose(average.model.state_dict()[key], start + 0.9 + 0.1 * 0.1, atol=1e-5)
    counts = [k for k, v in model.state_dict().items() if not v.is_floating_point()]
    assert all(torch.equal(average.model.state_dict()[k], model.state_dict()[k]) for k in counts)
    assert not any(p.requires_grad for p in average.model.parameters())


@pytest.mark.slow  # trains: the developer's default loop does not need it (CI's slow set runs it)
def test_few_steps_reduce_loss_on_fixed_batch() -> None:
    torch.manual_seed(0)
    model = build_member("test_resnet")
    rng = np.random.default_rng(0)
    image, label = add_clouds(_background(64), 30.0, rng, config=SynthConfig(p_thick=1.0))
    x, y = augment_chip(image, label, rng, p_nodata=0, p_corrupt=0, p_saturate=0, p_blur=0)
    xb = torch.from_numpy(np.stack([x, x[:, ::-1].copy()]))
    yb = torch.from_numpy(np.stack([y, y[::-1].copy()]).astype(np.int64))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(12):
        loss = masked_loss(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_export_load_ensemble_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_member("test_resnet").eval()
    ckpt = tmp_path / "checkpoint.pt"
    torch.save({"model": model.state_dict(), "member": "test_resnet"}, ckpt)
    manifest = export_ensemble({"test_resnet": ckpt}, tmp_path / "weights", name="t", version="9")
    info = json.loads(manifest.read_text())
    from ocm_engine.models.weights import file_sha256

    member = tmp_path / "weights" / "default_test_resnet.safetensors"
    assert info["members"] == [
        {"arch": "test_resnet", "file": "default_test_resnet.safetensors", "sha256": file_sha256(member)}
    ]
    ensemble = load_ensemble(tmp_path / "weights", device="cpu")
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        ref = model(x)
    assert torch.allclose(ensemble.logits(x), ref, atol=5e-2)
    single = export_member(model, tmp_path / "m.safetensors")
    from safetensors.torch import load_file

    assert all(v.dtype == torch.float16 for v in load_file(str(single)).values() if v.is_floating_point())


def test_export_rejects_unknown_member(tmp_path: Path) -> None:
    ckpt = tmp_path / "c.pt"
    torch.save({"model": {}, "member": "nope"}, ckpt)
    with pytest.raises(ModelLoadError) as unknown:
        export_ensemble({"nope": ckpt}, tmp_path)
    assert (unknown.value.subject, unknown.value.arrived) == (f"Member of checkpoint {ckpt}", "nope")
    with pytest.raises(ModelLoadError) as missing:
        export_ensemble({"regnety_004": tmp_path / "absent.pt"}, tmp_path)
    assert (missing.value.subject, missing.value.arrived) == (f"Checkpoint {tmp_path / 'absent.pt'}", "no such file")


@pytest.mark.slow  # trains: the developer's default loop does not need it (CI's slow set runs it)
def test_train_member_starts_from_weights_keeps_snapshots_and_resumes(tmp_path: Path) -> None:
    from ocm_engine.training.train import TrainConfig, load_checkpoint_model, train_member

    pack_dir = tmp_path / "packed"
    pack_dir.mkdir()
    rng = np.random.default_rng(0)
    image = (rng.random((4, 96, 96)) * 0.3 + 0.02).astype(np.float16)
    label = np.zeros((96, 96), np.uint8)
    label[:40] = 4
    meta = {"name": "ukis_t", "dataset": "ukis", "split": "train", "resolution_m": 30.0}
    np.savez_compressed(
        pack_dir / "ukis_t.npz", image=image, label=label, expert=label, teacher=label, meta=np.array(json.dumps(meta))
    )
    torch.manual_seed(1)
    start = export_member(build_member("test_resnet"), tmp_path / "start.safetensors")
    config = TrainConfig(
        member="test_resnet", run_name="t", steps=4, time_budget_s=120, batch_size=2, chip_px=32, threads=1,
        warmup_steps=1, snapshot_every=2, init_from=str(start), pack_dir=str(pack_dir), runs_dir=str(tmp_path / "runs"),
    )
    ckpt = train_member(config)
    snaps = sorted(p.name for p in ckpt.parent.glob("snap_*.safetensors"))
    assert snaps == ["snap_000002.safetensors", "snap_000004.safetensors"]
    trained = load_checkpoint_model(ckpt)
    from safetensors.torch import load_file

    initial = load_file(str(start))
    key = next(k for k in initial if k.endswith("weight") and initial[k].ndim == 4)
    # Started from the given weights (close to them after 4 small steps), and did move.
    delta = (trained.state_dict()[key] - initial[key].float()).abs()
    assert 0 < delta.max() < 0.1
    config.steps = 6
    train_member(config)
    assert json.loads((ckpt.parent / "metrics.json").read_text())["step"] == 6


def test_train_member_with_mixed_chip_sizes_keeps_and_exports_the_average(tmp_path: Path) -> None:
    from ocm_engine.training.train import TrainConfig, load_checkpoint_model, train_member

    pack_dir = tmp_path / "packed"
    pack_dir.mkdir()
    rng = np.random.default_rng(0)
    image = (rng.random((4, 128, 128)) * 0.3 + 0.02).astype(np.float16)
    label = np.zeros((128, 128), np.uint8)
    label[:50] = 150  # a soft target
    meta = {"name": "s2chips_t", "dataset": "s2chips", "split": "train", "resolution_m": 10.0}
    np.savez_compressed(
        pack_dir / "s2chips_t.npz", image=image, label=label, expert=label, teacher=label,
        meta=np.array(json.dumps(meta)),
    )
    config = TrainConfig(
        member="test_resnet", run_name="t", steps=4, time_budget_s=120, batch_size=2, chip_px=32,
        chip_sizes=(32, 64), threads=1, warmup_steps=1, snapshot_every=4, ema_decay=0.5, prefetch=0,
        pack_dir=str(pack_dir), runs_dir=str(tmp_path / "runs"),
    )
    ckpt = train_member(config)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    key = next(k for k, v in state["model"].items() if v.is_floating_point() and v.ndim == 4)
    assert not torch.equal(state["ema"][key], state["model"][key])  # the average lags the weights
    # Snapshots and checkpoint loads are the average (what ships), not the raw weights.
    loaded = load_checkpoint_model(ckpt).state_dict()[key]
    assert torch.equal(loaded, state["ema"][key])
    from safetensors.torch import load_file

    snap = load_file(str(ckpt.parent / "snap_000004.safetensors"))[key].float()
    assert torch.allclose(snap, state["ema"][key], atol=1e-2)
