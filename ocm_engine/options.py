"""Inference settings shared by every entry point.

One frozen :class:`InferenceOptions` is taken by :func:`~ocm_engine.predict_array`,
:func:`~ocm_engine.predict_scene`, :func:`~ocm_engine.predict_file`, batch jobs, the CLI
(:func:`ocm_engine.cli.options.inference_options`) and the app, so a setting is
named, defaulted and documented once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

from ocm_engine.backends import BackendName
from ocm_engine.constants import DEFAULT_OVERLAP_PX, DEFAULT_PATCH_PX
from ocm_engine.types import DtypeName

TtaTransforms = Literal[4, 8]


@dataclass(frozen=True, slots=True)
class InferenceOptions:
    """How to run the models over an image.

    Attributes:
        patch_px: Patch side in pixels at the inference resolution (shrunk to fit small images).
        overlap_px: Overlap between neighbouring patches, in pixels.
        batch_size: Patches per forward pass; ``None``: 1 on CPU, sized from free memory on CUDA.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"mps"``; ``None``: the ensemble's own
            device (for the default ensemble: the best available).
        dtype: ``"fp32"``, ``"fp16"``, ``"bf16"``; ``None``: the ensemble's own dtype (for the
            default ensemble: bf16 on CUDA GPUs and CPUs with native bf16, else fp32).
        tta: Test-time augmentation: average the members' logits over flipped/rotated copies
            of every patch (``tta_transforms`` times the compute).
        tta_transforms: 8 (the dihedral group: identity, 3 rotations, 4 reflections) or
            4 (identity, horizontal, vertical and both flips).
        compile: Run the members through ``torch.compile`` (a string is the compile mode).
        mosaic_device: Where patch logits are blended; ``None``: the ensemble's device.
            ``"cpu"`` saves GPU memory on very wide scenes.
        return_probabilities: Also return per-class probabilities (16 bytes per pixel).
        return_members: Also return every member's class map from the same forward pass
            (:attr:`Prediction.member_classes`; 1 byte per pixel per member), e.g. to show
            where members disagree without running each member again.
        backend: What runs the members: ``"auto"`` (a given ensemble's own backend; for the
            default ensemble OpenVINO on the CPU when installed, else PyTorch), ``"torch"``
            (eager PyTorch) or ``"openvino"`` (members compiled for the CPU, converted once
            and cached on disk; see :mod:`ocm_engine.backends`).
    """

    patch_px: int = DEFAULT_PATCH_PX
    overlap_px: int = DEFAULT_OVERLAP_PX
    batch_size: int | None = None
    device: str | None = None
    dtype: DtypeName | None = None
    tta: bool = False
    tta_transforms: TtaTransforms = 8
    compile: bool | str = False
    mosaic_device: str | None = None
    return_probabilities: bool = True
    return_members: bool = False
    backend: BackendName = "auto"

    def replace(self, **changes: object) -> InferenceOptions:
        """Return a copy with some fields changed; ``None`` values leave a field as it is."""
        kept = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **kept)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """The options as plain values (JSON outputs, batch summaries)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
