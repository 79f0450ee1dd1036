from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ocm_engine import load_ensemble
from ocm_engine.errors import ModelLoadError, WeightsOfflineError
from ocm_engine.models.registry import MODEL_SPECS, build_member


def test_load_folder_of_safetensors(tiny_weights_dir: Path) -> None:
    ens = load_ensemble(tiny_weights_dir, device="cpu")
    assert len(ens.members) == 2 and ens.names == ("test_resnet", "test_resnet")
    out = ens.logits(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 4, 64, 64)


def test_load_pth_state_dict_and_prefixes(tmp_path: Path) -> None:
    model = build_member("test_resnet")
    path = tmp_path / "weights_test_resnet.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    ens = load_ensemble([path], device="cpu", dtype="fp32")
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(ens.logits(x), model(x))


@pytest.mark.slow  # builds and loads the two full-size member architectures
def test_official_v4_file_names_load_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An official-format file (whole smp.Unet state dict, official name) loads into our architecture."""
    import dataclasses

    from safetensors.torch import save_file

    from ocm_engine.models import weights as registry

    pins = {}
    for spec in registry.OFFICIAL_WEIGHTS.values():
        model = build_member(spec.arch)
        assert spec.file == MODEL_SPECS[spec.arch].official_file
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / spec.file))
        # random weights: pin this file's size and digest in place of the real ones
        pins[spec.key] = dataclasses.replace(spec, size_bytes=(tmp_path / spec.file).stat().st_size,
                                             sha256=registry.file_sha256(tmp_path / spec.file))
    monkeypatch.setattr(registry, "OFFICIAL_WEIGHTS", pins)
    ens = load_ensemble("official", weights_dir=tmp_path, device="cpu")
    assert ens.names == ("regnety_004", "edgenext_small")
    assert ens.source == "official-v4"


def test_missing_official_weights_are_explained(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as missing:
        load_ensemble("official", weights_dir=tmp_path)
    assert (missing.value.subject, missing.value.arrived) == ("Official OmniCloudMask v4 weights", "no installed pair")
    assert missing.value.expected == f"the verified pair in one of: {tmp_path}"
    assert "download=True" in missing.value.hint("python") and "OCM_WEIGHTS_DIR" in missing.value.hint("python")
    assert "ocm weights --download" in missing.value.hint("cli")
    assert "weights panel" in missing.value.hint("app") and "--" not in missing.value.describe("app")


def test_weights_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCM_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(ModelLoadError) as missing:
        load_ensemble("official")
    assert str(missing.value.expected).startswith(f"the verified pair in one of: {tmp_path},")


def test_garbage_weights_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelLoadError) as unreadable:
        load_ensemble(bad)
    assert unreadable.value.subject == f"Weights file {bad}" and unreadable.value.__cause__ is not None
    assert str(unreadable.value.arrived).startswith("a read error (")
    with pytest.raises(ModelLoadError) as nowhere:
        load_ensemble(tmp_path / "nope")
    assert (nowhere.value.subject, nowhere.value.arrived) == (
        f"Model source {str(tmp_path / 'nope')!r}", "no such file or folder")


def test_wrong_architecture_weights(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(tmp_path / "odd.safetensors"))
    with pytest.raises(ModelLoadError) as odd:
        load_ensemble(tmp_path / "odd.safetensors")
    assert odd.value.subject == f"Weights file {tmp_path / 'odd.safetensors'}"
    assert str(odd.value.arrived).startswith("a state dict that fits none of the architectures tried (regnety_004:")


def test_custom_modules_are_never_mutated(tiny_members) -> None:
    before = [(p.dtype, p.requires_grad, p.data_ptr()) for m in tiny_members for p in m.parameters()]
    ens = load_ensemble(tiny_members, device="cpu", dtype="bf16")
    assert ens.dtype == torch.bfloat16
    assert all(p.dtype == torch.bfloat16 for m in ens.members for p in m.parameters())
    after = [(p.dtype, p.requires_grad, p.data_ptr()) for m in tiny_members for p in m.parameters()]
    assert after == before
    assert all(a is not b for a, b in zip(ens.members, tiny_members, strict=True))


def test_moving_an_ensemble_leaves_the_original_alone(tiny_ensemble) -> None:
    moved = tiny_ensemble.to(torch.device("cpu"), torch.bfloat16)
    assert moved is not tiny_ensemble and moved.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for m in tiny_ensemble.members for p in m.parameters())
    assert tiny_ensemble.to(tiny_ensemble.device, tiny_ensemble.dtype) is tiny_ensemble
    one = tiny_ensemble.member(1)
    assert one.members == (tiny_ensemble.members[1],) and one.names == (tiny_ensemble.names[1],)


def test_unknown_dtype(tiny_members) -> None:
    with pytest.raises(ModelLoadError) as unknown:
        load_ensemble(tiny_members, dtype="fp8")
    assert (unknown.value.subject, unknown.value.arrived) == ("Compute dtype", "fp8")


def test_cuda_without_a_gpu_is_a_clear_error(tiny_members, monkeypatch: pytest.MonkeyPatch) -> None:
    # Asserts on every machine: pretend there is no GPU rather than skip where there is one.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelLoadError) as no_gpu:
        load_ensemble(tiny_members, device="cuda")
    assert (no_gpu.value.subject, no_gpu.value.arrived) == ("Device", "cuda")
    assert "--device cpu" in no_gpu.value.hint("cli") and "device='cpu'" in no_gpu.value.hint("python")


def test_offline_download_error_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # More download cases (loopback hub: resume, 404, stall, wrong file) in test_official_weights.py.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsOfflineError) as offline:
        load_ensemble("official", weights_dir=tmp_path, download=True)
    assert offline.value.arrived == "HF_HUB_OFFLINE set" and isinstance(offline.value, ModelLoadError)


def test_auto_dtype_is_bf16_only_where_native(monkeypatch: pytest.MonkeyPatch) -> None:
    from ocm_engine.models import policy as ens_mod

    cpu = torch.device("cpu")
    monkeypatch.setattr(ens_mod, "cpu_has_native_bf16", lambda: True)
    assert ens_mod.resolve_dtype(None, cpu) == torch.bfloat16
    monkeypatch.setattr(ens_mod, "cpu_has_native_bf16", lambda: False)
    assert ens_mod.resolve_dtype("auto", cpu) == torch.float32
    assert ens_mod.resolve_dtype("fp32", cpu) == torch.float32
