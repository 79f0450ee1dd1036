from __future__ import annotations

import numpy as np
import pytest
import torch

from ocm_engine.errors import ImageTooSmallError, InvalidImageError
from ocm_engine.tiling import blend_weights, class_argmax, fit_patch, patch_windows


@pytest.mark.parametrize(("h", "w", "patch", "overlap"), [(1000, 1000, 1000, 300), (2000, 1700, 1000, 300),
                                                          (97, 300, 64, 16), (33, 33, 32, 10)])
def test_windows_cover_image_without_duplicates(h: int, w: int, patch: int, overlap: int) -> None:
    windows = patch_windows(h, w, patch, overlap)
    cover = np.zeros((h, w), dtype=int)
    for win in windows:
        assert win.bottom <= h and win.right <= w
        cover[win.slices] += 1
    assert cover.min() >= 1
    assert len({(x.top, x.left) for x in windows}) == len(windows)


def test_fit_patch_shrinks_and_rejects_small_images() -> None:
    assert fit_patch(150, 210, 1000, 300) == (150, 75)
    with pytest.raises(ImageTooSmallError) as small:
        fit_patch(31, 500, 1000, 300)
    assert (small.value.subject, small.value.arrived) == ("Image", "31 x 500 px")
    assert str(small.value.expected).startswith("at least 32 px")
    with pytest.raises(InvalidImageError) as patch:
        fit_patch(100, 100, 16, 4)
    assert type(patch.value) is InvalidImageError
    assert (patch.value.subject, patch.value.arrived) == ("Patch size (px)", 16)
    with pytest.raises(InvalidImageError) as overlap:
        fit_patch(100, 100, 64, -1)
    assert (overlap.value.subject, overlap.value.arrived) == ("Patch overlap (px)", -1)


def test_blend_weights_ramp() -> None:
    w = blend_weights(10, 4)
    assert w.shape == (10, 10)
    assert torch.isclose(w[0, 0], torch.tensor(1 / 16))
    assert w[5, 5] == 1 and w.min() > 0
    assert torch.equal(w, w.T) and torch.equal(w, w.flip(0))


def test_class_argmax_equals_torch_argmax_ties_included() -> None:
    torch.manual_seed(0)
    logits = torch.randn(4, 37, 53)
    logits[:, :5] = 0.0  # all four tied: the first class, as torch.argmax
    logits[2:, 5:9] = 3.0  # classes 2 and 3 tied
    out = class_argmax(logits)
    assert out.dtype == torch.uint8
    assert torch.equal(out, torch.argmax(logits, dim=0).to(torch.uint8))
    assert set(out.unique().tolist()) == {0, 1, 2, 3}
