"""The compiled CPU backend (OpenVINO): choice, conversion cache, parity and every inference path."""

from __future__ import annotations

import argparse
import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ocm_engine import InferenceOptions, load_ensemble, predict_array
from ocm_engine.backends import resolve_backend
from ocm_engine.backends.store import cache_key, cached_folder, module_digest
from ocm_engine.errors import BackendError, ModelLoadError
from ocm_engine.models.ensemble import Ensemble, with_backend

ov = pytest.importorskip("openvino")

from ocm_engine.backends import openvino as ovb  # noqa: E402

CPU = torch.device("cpu")


def _image(size: tuple[int, int] = (96, 128), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
    image = np.stack([2000 + 900 * np.sin(xx / (9.0 + b)) * np.cos(yy / 7.0) for b in range(3)])
    image += rng.integers(0, 300, image.shape)
    image[:, :10, :12] = 0  # a nodata corner
    return image.astype(np.uint16)


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One conversion cache for this module (conversions are the slow part)."""
    return tmp_path_factory.mktemp("compiled")


@pytest.fixture
def use_cache(cache_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OCM_COMPILED_DIR", str(cache_root))
    return cache_root


@pytest.fixture
def torch_fp32(tiny_members: list[torch.nn.Module]) -> Ensemble:
    return load_ensemble(tiny_members, device="cpu", dtype="fp32", backend="torch")


@pytest.fixture
def ov_fp32(torch_fp32: Ensemble, use_cache: Path) -> Ensemble:
    return with_backend(torch_fp32, "openvino", CPU, torch.float32)


# ------------------------------------------------------------------ choosing a backend


def test_auto_picks_openvino_on_cpu_and_torch_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCM_BACKEND", raising=False)
    assert resolve_backend("auto", CPU, torch.float32) == "openvino"
    assert resolve_backend(None, CPU, torch.bfloat16) == "openvino"
    assert resolve_backend("auto", CPU, torch.float16) == "torch"
    assert resolve_backend("auto", torch.device("cuda"), torch.bfloat16) == "torch"
    assert resolve_backend("torch", CPU, torch.float32) == "torch"
    monkeypatch.setenv("OCM_BACKEND", "torch")
    assert resolve_backend("auto", CPU, torch.float32) == "torch"
    assert resolve_backend("openvino", CPU, torch.float32) == "openvino"  # named beats the variable


def test_auto_falls_back_to_torch_when_openvino_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import ocm_engine.backends as backends

    monkeypatch.delenv("OCM_BACKEND", raising=False)
    monkeypatch.setattr(backends, "openvino_installed", lambda: False)
    assert resolve_backend("auto", CPU, torch.float32) == "torch"
    with pytest.raises(BackendError) as missing:
        resolve_backend("openvino", CPU, torch.float32)
    assert (missing.value.subject, missing.value.arrived) == ("Package 'openvino' (for the OpenVINO backend)",
                                                              "not installed")
    assert "pip install" in missing.value.hint("cli") and "--backend torch" in missing.value.hint("cli")


@pytest.mark.parametrize(
    ("name", "device", "dtype", "fields", "advised"),
    [
        ("tensorrt", CPU, torch.float32, ("Backend", "tensorrt", "one of auto, torch, openvino"), False),
        ("openvino", torch.device("cuda"), torch.float32, ("Device for the OpenVINO backend", "cuda", "cpu"), True),
        ("openvino", CPU, torch.float16, ("Compute dtype for the OpenVINO backend", "float16", "fp32 or bf16"), True),
    ],
)
def test_bad_backend_requests_raise_actionable_errors(name: str, device: torch.device, dtype: torch.dtype,
                                                      fields: tuple[str, str, str], advised: bool) -> None:
    with pytest.raises(BackendError) as info:
        resolve_backend(name, device, dtype)
    assert isinstance(info.value, ModelLoadError)
    assert (info.value.subject, info.value.arrived, info.value.expected) == fields
    app = info.value.describe("app")
    assert "--" not in app and "='" not in app, app  # the app names its widgets, not flags or arguments
    assert bool(info.value.hint("python")) is advised
    if advised:
        assert "--" in info.value.hint("cli") and "='" in info.value.hint("python")
        assert "--" not in info.value.hint("python") and "='" not in info.value.hint("cli")


def test_bad_environment_value_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCM_BACKEND", "gpu")
    with pytest.raises(BackendError) as info:
        resolve_backend("auto", CPU, torch.float32)
    assert (info.value.subject, info.value.arrived) == ("$OCM_BACKEND", "gpu")


# ------------------------------------------------------------------ the conversion cache


def test_cache_key_depends_on_weights_runtime_and_precision(tiny_members: list[torch.nn.Module]) -> None:
    first, second = (module_digest(m) for m in tiny_members)
    assert first != second  # different random weights
    assert module_digest(tiny_members[0]) == first
    rounded = copy.deepcopy(tiny_members[0]).to(torch.bfloat16).float()
    assert module_digest(rounded) != first  # rounded weights differ
    keys = {cache_key(first, "openvino", v, p, "dyn") for v in ("1", "2") for p in ("f32", "int8")}
    assert len(keys) == 4


def test_cache_folder_is_written_atomically(tmp_path: Path) -> None:
    def broken(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        cached_folder("k1", broken, tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind

    calls: list[Path] = []

    def write(folder: Path) -> None:
        calls.append(folder)
        (folder / "member.xml").write_text("ok")

    done = cached_folder("k1", write, tmp_path)
    assert (done / "member.xml").read_text() == "ok"
    assert cached_folder("k1", write, tmp_path) == done and len(calls) == 1  # second call: no write


def test_lost_conversion_race_keeps_the_winner(tmp_path: Path) -> None:
    def slow_writer(folder: Path) -> None:
        (folder / "member.xml").write_text("mine")
        winner = tmp_path / "k2"  # another session renames its folder in first
        winner.mkdir()
        (winner / "member.xml").write_text("theirs")

    final = cached_folder("k2", slow_writer, tmp_path)
    assert (final / "member.xml").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["k2"]


# ------------------------------------------------------------------ parity and inference paths


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_f32_class_maps_match_pytorch_fp32(torch_fp32: Ensemble, ov_fp32: Ensemble) -> None:
    assert ov_fp32.backend == "openvino" and all(isinstance(m, ovb.CompiledMember) for m in ov_fp32.members)
    assert sum(p.numel() for m in ov_fp32.members for p in m.parameters()) == 0  # no PyTorch weights kept
    image = _image()
    ref = predict_array(image, ensemble=torch_fp32, options=InferenceOptions(patch_px=64, overlap_px=16))
    out = predict_array(image, ensemble=ov_fp32, options=InferenceOptions(patch_px=64, overlap_px=16))
    assert out.run.backend == "openvino" and ref.run.backend == "torch"
    assert ref.probabilities is not None and out.probabilities is not None
    np.testing.assert_array_equal(out.classes, ref.classes)
    np.testing.assert_allclose(out.probabilities, ref.probabilities, atol=1e-4)


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_bf16_runs_from_the_same_conversion(torch_fp32: Ensemble, ov_fp32: Ensemble, use_cache: Path) -> None:
    before = sorted(p.name for p in use_cache.iterdir())
    bf16 = ov_fp32.to(CPU, torch.bfloat16)
    assert bf16.dtype == torch.bfloat16 and {m.precision for m in bf16.members} == {"bf16"}
    assert sorted(p.name for p in use_cache.iterdir()) == before  # recompiled, not converted again
    image = _image(seed=3)
    ref = predict_array(image, ensemble=torch_fp32, options=InferenceOptions(patch_px=64, overlap_px=16))
    out = predict_array(image, ensemble=bf16, options=InferenceOptions(patch_px=64, overlap_px=16))
    assert (out.classes == ref.classes)[ref.valid].mean() > 0.95  # random weights: near-ties exist


@pytest.mark.slow  # converts full-size test_resnet decoders: tens of seconds on 2 cores
def test_small_images_and_edge_patches_need_no_new_conversion(ov_fp32: Ensemble, torch_fp32: Ensemble,
                                                              use_cache: Path) -> None:
    before = sorted(p.name for p in use_cache.iterdir())
    for shape in ((64, 64), (96, 160), (128, 96)):
        image = _image(shape, seed=shape[1])
        ref = predict_array(image, ensemble=torch_fp32, options=InferenceOptions(patch_px=96, overlap_px=32))
        out = predict_array(image, ensemble=ov_fp32, options=InferenceOptions(patch_px=96, overlap_px=32))
        np.testing.assert_array_equal(out.classes, ref.classes)
    assert sorted(p.name for p in use_cache.iterdir()) == before


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_tta_members_and_no_probabilities(torch_fp32: Ensemble, ov_fp32: Ensemble) -> None:
    image = _image((64, 64), seed=5)
    options = InferenceOptions(patch_px=64, overlap_px=16, tta=True, tta_transforms=4, return_members=True,
                               return_probabilities=False)
    ref = predict_array(image, ensemble=torch_fp32, options=options)
    out = predict_array(image, ensemble=ov_fp32, options=options)
    assert out.probabilities is None and len(out.member_classes) == 2
    np.testing.assert_array_equal(out.classes, ref.classes)
    for mine, theirs in zip(out.member_classes, ref.member_classes, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    one = predict_array(image, ensemble=ov_fp32.member(1), options=InferenceOptions(patch_px=64, overlap_px=16))
    alone = predict_array(image, ensemble=torch_fp32.member(1), options=InferenceOptions(patch_px=64, overlap_px=16))
    np.testing.assert_array_equal(one.classes, alone.classes)


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_options_backend_converts_a_given_ensemble_once(torch_fp32: Ensemble, use_cache: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    image = _image()
    options = InferenceOptions(patch_px=64, overlap_px=16, backend="openvino")
    first = predict_array(image, ensemble=torch_fp32, options=options)
    assert first.run.backend == "openvino"
    monkeypatch.setattr(ovb, "CompiledMember", _forbidden)  # a second call reuses the process's conversion
    again = predict_array(image, ensemble=torch_fp32, options=options)
    np.testing.assert_array_equal(again.classes, first.classes)
    auto = predict_array(image, ensemble=torch_fp32, options=InferenceOptions(patch_px=64, overlap_px=16))
    assert auto.run.backend == "torch"  # auto keeps a given ensemble's own backend


def _forbidden(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("compiled again")


@pytest.mark.slow  # converts full-size test_resnet decoders: tens of seconds on 2 cores
def test_weight_files_hit_the_cache_without_building_pytorch(make_weights: Callable[..., Path], use_cache: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_weights(1, seed=1)
    ref = load_ensemble(folder, device="cpu", dtype="fp32", backend="torch")
    first = load_ensemble(folder, device="cpu", dtype="fp32", backend="openvino")
    assert first.names == ref.names and first.source == str(folder)
    import ocm_engine.models.ensemble as ensemble_module

    monkeypatch.setattr(ensemble_module, "load_member", _forbidden)
    second = load_ensemble(folder, device="cpu", dtype="bf16", backend="openvino")
    assert second.names == ref.names and second.dtype == torch.bfloat16
    image = _image(seed=7)
    np.testing.assert_array_equal(
        predict_array(image, ensemble=first, options=InferenceOptions(patch_px=64, overlap_px=16)).classes,
        predict_array(image, ensemble=ref, options=InferenceOptions(patch_px=64, overlap_px=16)).classes,
    )
    monkeypatch.undo()
    back = predict_array(image, ensemble=first, options=InferenceOptions(patch_px=64, overlap_px=16, backend="torch"))
    assert back.run.backend == "torch"  # reloaded from the weights path


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_in_memory_members_cannot_go_back_to_torch(ov_fp32: Ensemble) -> None:
    with pytest.raises(BackendError) as gone:
        with_backend(ov_fp32, "torch")
    assert gone.value.arrived == "no PyTorch members (not kept)" and "backend='torch'" in gone.value.hint("python")
    with pytest.raises(BackendError) as gpu:
        with_backend(ov_fp32, "openvino", torch.device("cuda"))
    assert (gpu.value.subject, gpu.value.arrived) == ("Device for the OpenVINO backend", "cuda")


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_compiled_members_copy_and_serialise_calls(ov_fp32: Ensemble) -> None:
    twin = copy.deepcopy(ov_fp32.members[0])
    batch = torch.randn(2, 3, 64, 64)
    np.testing.assert_array_equal(twin(batch).numpy(), ov_fp32.members[0](batch).numpy())
    assert ov_fp32.compile() is ov_fp32  # torch.compile does not apply to compiled members


@pytest.mark.slow  # converts full-size test_resnet decoders: tens of seconds on 2 cores
def test_cached_ensemble_keys_the_backend(monkeypatch: pytest.MonkeyPatch, make_weights: Callable[..., Path],
                                          use_cache: Path) -> None:
    from ocm_engine.models.cache import cached_ensemble, clear_model_cache

    folder = str(make_weights(1, seed=1))
    monkeypatch.delenv("OCM_BACKEND", raising=False)
    clear_model_cache()
    try:
        auto = cached_ensemble(folder, device="cpu", dtype="fp32")
        named = cached_ensemble(folder, device="cpu", dtype="fp32", backend="torch")
        assert auto.backend == "openvino" and named.backend == "torch"
        assert cached_ensemble(folder, device="cpu", dtype="fp32", backend="openvino") is auto
    finally:
        clear_model_cache()


def test_cli_backend_option_reaches_the_options() -> None:
    from ocm_engine.cli.options import add_inference_options, inference_options

    parser = argparse.ArgumentParser()
    add_inference_options(parser, weights_help="w", device_help="d")
    assert inference_options(parser.parse_args([])).backend == "auto"
    assert inference_options(parser.parse_args(["--backend", "openvino"])).backend == "openvino"
    with pytest.raises(SystemExit):
        parser.parse_args(["--backend", "onnx"])


def test_conftest_keeps_tests_on_torch() -> None:
    assert os.environ["OCM_BACKEND"] == "torch"
