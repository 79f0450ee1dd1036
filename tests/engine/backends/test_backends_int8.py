"""int8 quantization of convolutional members (OpenVINO + NNCF): when it applies, what it quantizes, its cache."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from ocm_engine import InferenceOptions, load_ensemble, predict_array
from ocm_engine.errors import BackendError
from ocm_engine.models.ensemble import INT8_QUALIFIED, Ensemble, int8_request, wants_int8

pytest.importorskip("openvino")
pytest.importorskip("nncf")

from ocm_engine.backends import openvino as ovb
from ocm_engine.backends import quantize

QUALIFIED = {"int8": INT8_QUALIFIED}


@pytest.fixture
def capable_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quantize, "cpu_has_vnni", lambda: True)


def test_int8_by_default_only_for_qualified_weights_on_openvino_with_vnni(monkeypatch: pytest.MonkeyPatch,
                                                                          capable_cpu: None) -> None:
    assert wants_int8(None, QUALIFIED, "openvino")
    assert not wants_int8(None, {}, "openvino")  # user or official weights: float unless asked
    assert not wants_int8(None, {"int8": "not measured"}, "openvino")
    assert not wants_int8(None, QUALIFIED, "torch")
    assert not wants_int8(False, QUALIFIED, "openvino")
    assert wants_int8(True, {}, "openvino")
    monkeypatch.setattr(quantize, "cpu_has_vnni", lambda: False)
    assert not wants_int8(None, QUALIFIED, "openvino")  # no int8 dot products: no gain


def test_an_explicit_float_dtype_turns_the_automatic_int8_off() -> None:
    assert int8_request(None, None) is None and int8_request(None, "auto") is None
    assert int8_request(None, "fp32") is False and int8_request(None, torch.bfloat16) is False
    assert int8_request(True, "fp32") is True and int8_request(False, None) is False


def test_int8_on_pytorch_is_refused_with_the_fix() -> None:
    with pytest.raises(BackendError) as caught:
        wants_int8(True, {}, "torch")
    assert (caught.value.subject, caught.value.arrived) == ("Backend for int8 inference", "torch")
    assert "backend='openvino'" in caught.value.hint("python") and "int8=False" in caught.value.hint("python")
    assert "--no-int8" in caught.value.hint("cli")


def test_the_embedded_default_records_its_int8_qualification() -> None:
    from ocm_engine.models.sources import default_paths

    _, meta = default_paths()
    assert meta.get("int8") == INT8_QUALIFIED


def test_cli_int8_flags_reach_the_options() -> None:
    from ocm_engine.cli.options import add_inference_options, inference_options

    parser = argparse.ArgumentParser()
    add_inference_options(parser, weights_help="w", device_help="d")
    assert inference_options(parser.parse_args([])).int8 is None
    assert inference_options(parser.parse_args(["--int8"])).int8 is True
    assert inference_options(parser.parse_args(["--no-int8"])).int8 is False


def test_calibration_is_deterministic_and_z_scored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quantize, "CALIBRATION_SCENES", 1)  # each procedural scene takes about a second
    monkeypatch.setattr(quantize, "CALIBRATION_PX", 128)
    first, second = quantize.calibration_batches(), quantize.calibration_batches()
    assert len(first) == 3  # as it is, turned a quarter, mirrored
    assert not np.array_equal(first[0], first[1])
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.shape == (1, 3, quantize.CALIBRATION_PX, quantize.CALIBRATION_PX) and a.dtype == np.float32
        assert np.allclose(a.mean(axis=(0, 2, 3)), 0, atol=1e-3) and np.allclose(a.std(axis=(0, 2, 3)), 1, atol=1e-2)


class _AttentionMember(torch.nn.Module):
    """A member with a LayerNorm (as EdgeNeXt has): it must stay in float."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.norm = torch.nn.LayerNorm(8)
        self.head = torch.nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).permute(0, 2, 3, 1)
        return self.head(self.norm(y).permute(0, 3, 1, 2))


class _EncoderDecoderMember(torch.nn.Module):
    """An attention encoder (LayerNorm) and a convolutional decoder, named as segmentation-models-pytorch names them."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = _AttentionMember()
        self.decoder = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU(),
                                           torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU())
        self.segmentation_head = torch.nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.segmentation_head(self.decoder(self.encoder(x)))


@pytest.mark.slow  # converts and quantizes two tiny U-Nets: about half a minute on 2 cores
def test_int8_quantizes_convolutional_members_once(tiny_members: list[torch.nn.Module], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, capable_cpu: None) -> None:
    monkeypatch.setenv("OCM_COMPILED_DIR", str(tmp_path))
    rng = np.random.default_rng(0)
    monkeypatch.setattr(quantize, "calibration_batches",
                        lambda: [rng.standard_normal((1, 3, 64, 64)).astype(np.float32) for _ in range(4)])
    members = [*tiny_members[:1], _AttentionMember().eval()]
    f32 = load_ensemble(members, device="cpu", dtype="fp32", backend="openvino", int8=False)
    int8 = load_ensemble(members, device="cpu", dtype="fp32", backend="openvino", int8=True)
    # the LayerNorm member without a recognisable encoder stays float
    assert [m.precision for m in int8.members] == ["int8", "f32"]
    mixed = load_ensemble([_EncoderDecoderMember().eval()], device="cpu", dtype="fp32", backend="openvino", int8=True)
    assert [m.precision for m in mixed.members] == ["int8"]  # its decoder goes int8, its encoder stays float
    scope = quantize.float_scope(ovb.core().read_model(mixed.members[0].float_folder / ovb.MODEL_FILE))
    assert scope is not None and scope[1] == [quantize.ENCODER_PATTERN]
    assert len(scope[0]) == 1 and "segmentation_head" in scope[0][0]  # the head stays float too
    assert int8.backend_label == f"openvino (int8: {int8.names[0]})"
    image = (rng.random((3, 96, 96)) * 3000 + 500).astype(np.uint16)
    options = InferenceOptions(patch_px=64, overlap_px=16)
    ref = predict_array(image, ensemble=f32.member(0), options=options)
    out = predict_array(image, ensemble=int8.member(0), options=options)
    assert ref.probabilities is not None and out.probabilities is not None
    # int8 perturbs the probabilities a little; it does not scramble them
    assert np.corrcoef(ref.probabilities.ravel(), out.probabilities.ravel())[0, 1] > 0.95
    assert predict_array(image, ensemble=int8, options=options).run.backend == int8.backend_label

    def forbidden(*args: object) -> None:
        raise AssertionError("quantized again")

    monkeypatch.setattr(quantize, "_quantize_into", forbidden)  # the cache serves every later load
    again = load_ensemble(members, device="cpu", dtype="fp32", backend="openvino", int8=True)
    assert again.members[0].folder == int8.members[0].folder
    back = load_ensemble(int8, int8=False)  # back to float from the kept f32 model
    assert [m.precision for m in back.members] == ["f32", "f32"]
    assert isinstance(back, Ensemble) and not back.int8


@pytest.mark.slow
def test_options_int8_converts_a_given_ensemble(tiny_members: list[torch.nn.Module], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch, capable_cpu: None) -> None:
    monkeypatch.setenv("OCM_COMPILED_DIR", str(tmp_path))
    monkeypatch.delenv("OCM_BACKEND")  # "auto" as a user has it: OpenVINO on the CPU
    rng = np.random.default_rng(1)
    monkeypatch.setattr(quantize, "calibration_batches",
                        lambda: [rng.standard_normal((1, 3, 64, 64)).astype(np.float32) for _ in range(4)])
    torch_ensemble = load_ensemble(tiny_members, device="cpu", dtype="fp32", backend="torch")
    image = (rng.random((3, 80, 80)) * 3000 + 500).astype(np.uint16)
    out = predict_array(image, ensemble=torch_ensemble, options=InferenceOptions(patch_px=64, overlap_px=16, int8=True))
    assert out.run.backend.startswith("openvino (int8:")
    plain = predict_array(image, ensemble=torch_ensemble, options=InferenceOptions(patch_px=64, overlap_px=16))
    assert plain.run.backend == "torch"  # without int8, "auto" keeps a given ensemble's backend
