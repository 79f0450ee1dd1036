"""Settings shared by every entry point: how to read a scene, and how to run the models on it.

One frozen :class:`InferenceOptions` is taken by :func:`~ocm_engine.predict_array`,
:func:`~ocm_engine.predict_scene`, :func:`~ocm_engine.predict_file`, batch jobs, the CLI
(:func:`ocm_engine.cli.options.inference_options`) and the app; one frozen :class:`ReadOptions`
(sensor, bands, nodata, resolution) by :func:`~ocm_engine.predict_file` and batch jobs
(:class:`~ocm_engine.batch.SceneJob`), so a setting is named, defaulted and documented once.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Literal

from ocm_engine.backends import BackendName
from ocm_engine.constants import DEFAULT_OVERLAP_PX, DEFAULT_PATCH_PX
from ocm_engine.types import DtypeName

if TYPE_CHECKING:
    from ocm_engine.io.mapping import BandMapping

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
        int8: Quantize the convolutional members to int8 (OpenVINO on the CPU; see
            :mod:`ocm_engine.backends.quantize`). ``None``: int8 for weights whose manifest
            records that it qualified (the embedded default) on a CPU with VNNI when ``dtype`` is
            automatic too; float otherwise (an explicit ``dtype`` runs every member in it).
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
    int8: bool | None = None

    def replace(self, **changes: object) -> InferenceOptions:
        """Return a copy with some fields changed; ``None`` values leave a field as it is."""
        kept = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **kept)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """The options as plain values (JSON outputs, batch summaries)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read a scene from files: which sensor, which bands, what is nodata, at what resolution.

    Taken by :func:`~ocm_engine.predict_file` (and through it STAC items) and by batch jobs
    (:class:`~ocm_engine.batch.SceneJob`); the fields are those of
    :func:`~ocm_engine.read_scene` / :class:`~ocm_engine.SceneReader`.

    Attributes:
        sensor: Sensor preset key (see ``ocm sensors``); ``None``: the file's band names, else a guess.
        bands: Explicit **1-based** Red, Green, NIR[, Blue] band (or file) numbers, as GDAL numbers
            them, or a :class:`~ocm_engine.BandMapping`; ``None``: from ``sensor`` or the file.
        nodata: Nodata value; ``None``: the file's, else the preset's, else 0.
        resolution_m: Inference resolution in metres; ``None``: the source's, at least 10 m.
    """

    sensor: str | None = None
    bands: BandMapping | tuple[int | None, ...] | None = None
    nodata: float | None = None
    resolution_m: float | None = None

    def __post_init__(self) -> None:
        """Store a band list as a tuple, so the options stay hashable and picklable."""
        if isinstance(self.bands, Sequence) and not isinstance(self.bands, tuple):
            object.__setattr__(self, "bands", tuple(self.bands))

    def replace(self, **changes: object) -> ReadOptions:
        """Return a copy with some fields changed; ``None`` values leave a field as it is."""
        kept = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **kept)  # type: ignore[arg-type]

    def band_list(self) -> BandMapping | list[int | None] | None:
        """``bands`` as :class:`~ocm_engine.SceneReader` takes them (a list, a mapping or ``None``)."""
        if self.bands is None or not isinstance(self.bands, tuple):
            return self.bands
        return list(self.bands)


def warn_legacy_keywords(function: str, given: Mapping[str, object], options_type: str, argument: str,
                         *, stacklevel: int = 3) -> None:
    """Warn that keyword overrides of an options value are deprecated, naming the replacement.

    Args:
        function: The function called (``"predict_file"``).
        given: The legacy keywords and their values; ``None`` values were not passed.
        options_type: The options class that replaces them (``"InferenceOptions"``).
        argument: The argument that takes it (``"options"``).
        stacklevel: Points the warning at the caller of ``function``.
    """
    used = {k: v for k, v in given.items() if v is not None}
    if not used:
        return
    fields_text = ", ".join(f"{k}={v!r}" for k, v in used.items())
    warnings.warn(
        f"{function}({', '.join(f'{k}=' for k in used)}...) is deprecated and will be removed in the next "
        f"release: pass {argument}={options_type}({fields_text}) instead.",
        DeprecationWarning, stacklevel=stacklevel,
    )
