"""Speed and memory machinery: the row-band mosaic, batch halving, prefetching, formats.

Timing itself lives in ``bench/`` (benchmarks are not timed tests). GPU tests skip
without CUDA.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ocm_engine import InferenceOptions, load_ensemble, predict_array
from ocm_engine.errors import BatchSizeWarning, DeviceMemoryError
from ocm_engine.forward import prefetched as _prefetched
from ocm_engine.models.policy import memory_format as _memory_format
from ocm_engine.tiling import RowMosaic, blend_weights, patch_windows
from tests.conftest import synthetic_scene


def _full_blend(windows, logits, height, width, patch, overlap):
    weights = blend_weights(patch, overlap)
    total = torch.zeros(4, height, width)
    weight_sum = torch.zeros(height, width)
    for window, patch_logits in zip(windows, logits, strict=True):
        total[:, window.slices[0], window.slices[1]] += patch_logits * weights
        weight_sum[window.slices] += weights
    return total, weight_sum


@pytest.mark.parametrize(
    ("height", "width", "patch", "overlap"),
    [(200, 260, 64, 16), (97, 300, 96, 30), (150, 150, 150, 0), (330, 90, 40, 19)],
)
def test_row_mosaic_matches_full_accumulators(height, width, patch, overlap) -> None:
    rng = np.random.default_rng(0)
    valid = rng.random((height, width)) > 0.05
    windows = patch_windows(height, width, patch, overlap)
    windows = [w for i, w in enumerate(windows) if i % 5 != 3]  # some skipped patches
    logits = torch.from_numpy(rng.standard_normal((len(windows), 4, patch, patch)).astype(np.float32))
    mosaic = RowMosaic(valid, patch, overlap, 4, torch.device("cpu"), probabilities=True)
    for start in range(0, len(windows), 3):
        mosaic.add(windows[start : start + 3], logits[start : start + 3])
    classes, probs = mosaic.finish()
    total, weight_sum = _full_blend(windows, logits, height, width, patch, overlap)
    covered = (weight_sum > 0).numpy() & valid
    expected = torch.argmax(total, 0).numpy()
    assert (classes[covered] == expected[covered]).all()
    assert (classes[~valid] == 0).all()
    want = (torch.softmax(total / weight_sum.clamp(min=1e-12), 0) * torch.from_numpy(valid)).numpy()
    assert probs is not None
    np.testing.assert_allclose(probs[:, covered], want[:, covered], atol=1e-6)
    assert (probs[:, ~valid] == 0).all()


def test_row_mosaic_class_only_keeps_no_weight_band() -> None:
    valid = np.ones((120, 130), bool)
    mosaic = RowMosaic(valid, 64, 16, 4, torch.device("cpu"), probabilities=False)
    assert mosaic.weight_band is None and mosaic.logit_band.shape == (4, 64, 130)
    windows = patch_windows(120, 130, 64, 16)
    mosaic.add(windows, torch.zeros(len(windows), 4, 64, 64))
    classes, probs = mosaic.finish()
    assert probs is None and classes.shape == (120, 130)


def test_prefetched_yields_every_window_in_order() -> None:
    image = np.arange(3 * 50 * 70, dtype=np.uint16).reshape(3, 50, 70)
    windows = patch_windows(50, 70, 32, 8)
    seen = []
    for chunk, batch in _prefetched(image, windows, 2, pin=False):
        assert batch.shape == (len(chunk), 3, 32, 32) and batch.dtype == torch.int32
        first = chunk[0]
        assert int(batch[0, 0, 0, 0]) == int(image[0, first.top, first.left])
        seen.extend(chunk)
    assert seen == windows


class _OomAboveOne(torch.nn.Module):
    """Wraps a member; raises CUDA out-of-memory for batches larger than ``limit``."""

    def __init__(self, inner: torch.nn.Module, limit: int) -> None:
        super().__init__()
        self.inner = inner
        self.limit = limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError("fake: out of memory")
        return self.inner(x)


def test_out_of_memory_halves_the_batch(tiny_members) -> None:
    image = synthetic_scene(3, 96, 120)
    plain = load_ensemble(list(tiny_members), device="cpu", dtype="fp32")
    options = InferenceOptions(patch_px=64, overlap_px=16, batch_size=1)
    want = predict_array(image, ensemble=plain, options=options)
    flaky = load_ensemble([_OomAboveOne(m, 1) for m in tiny_members], device="cpu", dtype="fp32")
    with pytest.warns(BatchSizeWarning) as record:
        got = predict_array(image, ensemble=flaky, options=options.replace(batch_size=4))
    assert [str(w.message).split("batch_size=")[1] for w in record] == ["2.", "1."]
    assert got.run.batch_size == 1
    assert (got.classes == want.classes).all()
    assert got.probabilities is not None and want.probabilities is not None
    np.testing.assert_allclose(got.probabilities, want.probabilities, atol=1e-6)


def test_out_of_memory_at_batch_one_is_a_clear_error(tiny_members) -> None:
    broken = load_ensemble([_OomAboveOne(m, 0) for m in tiny_members], device="cpu", dtype="fp32")
    with pytest.raises(DeviceMemoryError) as info:
        predict_array(synthetic_scene(3, 80, 80), ensemble=broken, options=InferenceOptions(batch_size=1))
    assert isinstance(info.value, MemoryError)
    assert (info.value.subject, info.value.arrived) == ("Memory of cpu", "out of memory")
    assert info.value.expected == "room for 1 patch of 80 px per forward pass"
    assert "patch_px" in info.value.hint("python") and "--patch" in info.value.hint("cli")
    assert "patch_px" not in info.value.hint("cli") and "--" not in info.value.hint("app")


def test_cpu_memory_format_per_encoder(tiny_members) -> None:
    from ocm_engine.models.registry import build_member

    ens = load_ensemble([build_member("edgenext_small"), tiny_members[0]], device="cpu", dtype="fp32")
    assert _memory_format(ens.members[0]) == torch.channels_last
    assert _memory_format(ens.members[1]) == torch.contiguous_format


@pytest.mark.slow
def test_compiled_ensemble_matches_eager(tiny_members) -> None:
    image = synthetic_scene(3, 96, 96)
    eager = load_ensemble(list(tiny_members), device="cpu", dtype="fp32")
    compiled = load_ensemble(list(tiny_members), device="cpu", dtype="fp32", compile=True)
    assert compiled.compiled
    a = predict_array(image, ensemble=eager, options=InferenceOptions(patch_px=96))
    b = predict_array(image, ensemble=compiled, options=InferenceOptions(patch_px=96))
    assert a.probabilities is not None and b.probabilities is not None
    np.testing.assert_allclose(a.probabilities, b.probabilities, atol=1e-4)


@pytest.mark.gpu
def test_cuda_bf16_channels_last_agrees_with_cpu_fp32(tiny_members) -> None:
    image = synthetic_scene(3, 300, 340)
    cpu = load_ensemble(list(tiny_members), device="cpu", dtype="fp32")
    gpu = load_ensemble(list(tiny_members), device="cuda", dtype="bf16")
    assert _memory_format(gpu.members[0]) == torch.channels_last
    a = predict_array(image, ensemble=cpu, options=InferenceOptions(patch_px=128, overlap_px=32))
    b = predict_array(image, ensemble=gpu, options=InferenceOptions(patch_px=128, overlap_px=32, batch_size=4))
    assert (a.classes[a.valid] == b.classes[b.valid]).mean() > 0.97


@pytest.mark.gpu
def test_cuda_default_batch_size_and_device_memory_does_not_grow_with_height(tiny_members) -> None:
    """The blend lives in a band of ``patch x width`` rows on the device, never the whole scene.

    A scene 4x as tall must not raise peak device memory by anything near the full-size
    accumulators it would need (4 classes + 1 weight, float32, per pixel of the extra rows).
    """
    from ocm_engine.forward import default_batch_size

    gpu = load_ensemble(list(tiny_members), device="cuda", dtype="bf16")
    assert 1 <= default_batch_size(gpu, 1000) <= 16

    def peak(height: int) -> int:
        image = synthetic_scene(3, height, 1500)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        predict_array(image, ensemble=gpu,
                      options=InferenceOptions(patch_px=500, overlap_px=100, batch_size=2, return_probabilities=True))
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base

    short, tall = peak(1000), peak(4000)
    full_scene_accumulators = 5 * 4 * (4000 - 1000) * 1500
    assert tall - short < full_scene_accumulators / 4, (short, tall)
