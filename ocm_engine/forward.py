"""The device side of tiled inference: batches, prefetching, test-time augmentation, OOM halving.

:func:`~ocm_engine.inference.predict_array` lays out the patches; this module turns host
batches of patches ``(n, 3, patch, patch)`` into mean ensemble logits ``(n, 4, patch, patch)``:
a reader thread gathers the next batch (pinned for CUDA) while the device runs the current
one, each batch is z-scored on the device, optionally averaged over flips/rotations (TTA),
and on CUDA out-of-memory the batch is halved and retried.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import torch

from ocm_engine.errors import BatchSizeWarning, DeviceMemoryError, Hints, emit
from ocm_engine.models.ensemble import Ensemble
from ocm_engine.normalize import zscore_batch
from ocm_engine.tiling import Window


def default_batch_size(ensemble: Ensemble, patch_px: int) -> int:
    """Patches per forward pass: 1 on CPU, sized from free memory on CUDA."""
    if ensemble.device.type != "cuda":
        return 1
    free, _total = torch.cuda.mem_get_info(ensemble.device)
    # About 1.2 GB per megapixel per member at fp32 activations measured for these U-Nets.
    per_patch = 1.2e9 * (patch_px * patch_px / 1e6) * (0.6 if ensemble.dtype != torch.float32 else 1)
    return int(max(1, min(16, (free * 0.5) // per_patch)))


def _gather(image: npt.NDArray[np.generic], windows: Sequence[Window], pin: bool) -> torch.Tensor:
    """Stack the windows' pixels on the host: ``(n, 3, patch, patch)`` (pinned for CUDA)."""
    patches = np.stack([image[:, w.top : w.bottom, w.left : w.right] for w in windows])
    if patches.dtype.kind == "u" and patches.dtype.itemsize > 1:
        patches = patches.astype(np.int32 if patches.dtype.itemsize <= 2 else np.float64)
    elif patches.dtype == np.float16:
        patches = patches.astype(np.float32)
    tensor = torch.from_numpy(patches)
    return tensor.pin_memory() if pin else tensor


def prefetched(
    image: npt.NDArray[np.generic], windows: list[Window], size: int, pin: bool
) -> Iterator[tuple[list[Window], torch.Tensor]]:
    """Yield ``(windows, host batch)``, gathering the next batch on a thread meanwhile.

    Reading (slicing, stacking, pinning) overlaps the forward pass of the batch before,
    so the device does not wait on the host between batches.
    """
    chunks = [windows[i : i + size] for i in range(0, len(windows), size)]
    if len(chunks) <= 1:
        for chunk in chunks:
            yield chunk, _gather(image, chunk, pin)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocm-read") as pool:
        pending: Future[torch.Tensor] = pool.submit(_gather, image, chunks[0], pin)
        for index, chunk in enumerate(chunks):
            batch = pending.result()
            if index + 1 < len(chunks):
                pending = pool.submit(_gather, image, chunks[index + 1], pin)
            yield chunk, batch


def _valid_tensor(batch: torch.Tensor, raw: torch.Tensor, nodata: float | None) -> torch.Tensor:
    finite = torch.isfinite(raw).all(dim=1, keepdim=True)
    if nodata is None or (isinstance(nodata, float) and np.isnan(nodata)):
        return finite
    return finite & ~(raw == nodata).all(dim=1, keepdim=True)


def _free_memory_note(device: torch.device) -> str:
    if device.type != "cuda":
        return ""
    free, total = torch.cuda.mem_get_info(device)
    return f" ({free / 2**30:.1f} of {total / 2**30:.1f} GiB free)"


DIHEDRAL_8: tuple[tuple[int, bool], ...] = tuple((k, flip) for flip in (False, True) for k in range(4))
"""The dihedral group of the square as ``(quarter turns, mirrored first)``: 4 rotations, 4 reflections."""
FLIPS_4: tuple[tuple[int, bool], ...] = ((0, False), (0, True), (2, False), (2, True))
"""Identity, left-right flip, both flips (a half turn) and the up-down flip."""


def _transform(batch: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    out = batch.flip(-1) if mirror else batch
    return torch.rot90(out, turns, dims=(-2, -1)) if turns else out


def _untransform(batch: torch.Tensor, turns: int, mirror: bool) -> torch.Tensor:
    out = torch.rot90(batch, -turns, dims=(-2, -1)) if turns else batch
    return out.flip(-1) if mirror else out


def stacked_member_logits(
    members: Ensemble, batch: torch.Tensor, transforms: Sequence[tuple[int, bool]] = ()
) -> torch.Tensor:
    """Every member's logits of a normalised batch ``(n, 3, h, w)``: ``(n, members, 4, h, w)`` float32.

    With ``transforms`` each member's logits are averaged over the flipped/rotated copies, as
    :func:`tta_logits` does for the mean. The mean over axis 1 is the ensemble's logits, so one
    pass gives the ensemble and every member (the app's Compare page).
    """
    with torch.inference_mode():
        if not transforms:
            return torch.stack(members.member_logits(batch), dim=1)
        total: torch.Tensor | None = None
        for turns, mirror in transforms:
            outs = members.member_logits(_transform(batch, turns, mirror))
            out = torch.stack([_untransform(o, turns, mirror) for o in outs], dim=1)
            total = out if total is None else total.add_(out)
        assert total is not None
        return total.div_(len(transforms))


def tta_logits(
    members: Ensemble, batch: torch.Tensor, transforms: Sequence[tuple[int, bool]] = DIHEDRAL_8
) -> torch.Tensor:
    """Mean ensemble logits over transformed copies of a normalised batch ``(n, 3, h, w)``.

    Each copy is flipped/rotated, run, and its logits mapped back before averaging, so the
    result is on the input's own pixel grid: ``(n, 4, h, w)`` float32. Rotations need square
    patches (tiled inference always uses square patches).
    """
    total: torch.Tensor | None = None
    with torch.inference_mode():
        for turns, mirror in transforms:
            out = _untransform(members.logits(_transform(batch, turns, mirror)), turns, mirror)
            total = out.clone() if total is None else total.add_(out)
        assert total is not None
        return total.div_(len(transforms))


class Forward:
    """Normalise and run a host batch on the device, halving the batch on out-of-memory."""

    def __init__(self, members: Ensemble, batch_size: int, nodata: float | None,
                 transforms: Sequence[tuple[int, bool]] = (), per_member: bool = False) -> None:
        self.members = members
        self.batch_size = batch_size
        self.nodata = nodata
        self.transforms = tuple(transforms)
        self.per_member = per_member

    def _logits(self, batch: torch.Tensor) -> torch.Tensor:
        if self.per_member:
            return stacked_member_logits(self.members, batch, self.transforms)
        if not self.transforms:
            return self.members.logits(batch)
        return tta_logits(self.members, batch, self.transforms)

    def __call__(self, host_batch: torch.Tensor) -> torch.Tensor:
        """Mean logits ``(n, 4, h, w)`` float32 of a raw host batch ``(n, 3, h, w)``.

        With ``per_member`` every member's logits instead: ``(n, members, 4, h, w)``.

        Raises:
            DeviceMemoryError: Out of device memory even with one patch per pass.
        """
        dev = self.members.device
        raw = host_batch.to(dev, non_blocking=True)
        valid = _valid_tensor(raw, raw, self.nodata)  # on the input's own values and dtype
        if raw.dtype == torch.float64:
            # The z-score ignores scale: bring float64 values into float32's range first.
            zero = torch.zeros((), dtype=raw.dtype, device=dev)
            magnitude = torch.where(valid, raw.abs(), zero).amax(dim=(2, 3), keepdim=True)
            raw = raw / torch.where(magnitude > 0, magnitude, torch.ones_like(magnitude))
        batch = raw.to(torch.float32)
        outputs: list[torch.Tensor] = []
        start = 0
        while start < batch.shape[0]:
            part = batch[start : start + self.batch_size]
            ok = valid[start : start + self.batch_size]
            count = part.shape[0]
            if self.members.compiled and count < self.batch_size:
                # Pad a short last batch: compiled members (and CUDA graphs) keep one shape.
                pad = part.new_zeros((self.batch_size - count, *part.shape[1:]))
                part = torch.cat([part, pad])
                ok = torch.cat([ok, ok.new_zeros((self.batch_size - count, *ok.shape[1:]))])
            try:
                outputs.append(self._logits(zscore_batch(part, ok))[:count])
            except torch.cuda.OutOfMemoryError as err:
                if self.batch_size == 1:
                    raise DeviceMemoryError(
                        f"Memory of {dev}", arrived=f"out of memory{_free_memory_note(dev)}",
                        expected=f"room for 1 patch of {part.shape[-1]} px per forward pass",
                        hints=Hints(
                            python=("Use a smaller patch_px, dtype='bf16' or 'fp16', free the GPU (other "
                                    "processes), or device='cpu'."),
                            cli=("Use a smaller --patch, --dtype bf16 or fp16, free the GPU (other processes), "
                                 "or --device cpu."),
                            app="Free the GPU (other processes), or choose the CPU in the sidebar's Device.",
                        ),
                    ) from err
                self.batch_size = max(1, self.batch_size // 2)
                torch.cuda.empty_cache()
                emit(
                    f"{dev} ran out of memory; retrying with batch_size={self.batch_size}.",
                    BatchSizeWarning,
                    stacklevel=3,
                )
                continue
            start += count
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)
