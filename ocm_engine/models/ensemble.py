"""The soft-voting ensemble: load members, move them, average their logits."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ocm_engine.errors import ModelLoadError
from ocm_engine.models.policy import (
    cpu_has_native_bf16,
    memory_format,
    prepare,
    resolve_device,
    resolve_dtype,
)
from ocm_engine.models.sources import (
    DEFAULT_WEIGHTS_DIR,
    MANIFEST_NAME,
    WEIGHTS_ENV,
    default_paths,
    folder_paths,
    load_member,
    official_paths,
    official_weights_dir,
    read_state_dict,
)
from ocm_engine.types import DtypeName

__all__ = [
    "DEFAULT_WEIGHTS_DIR",
    "MANIFEST_NAME",
    "WEIGHTS_ENV",
    "Ensemble",
    "cpu_has_native_bf16",
    "load_ensemble",
    "load_member",
    "official_weights_dir",
    "read_state_dict",
    "resolve_device",
    "resolve_dtype",
]

@dataclass(slots=True)
class Ensemble:
    """Members whose logits are averaged (soft voting).

    Attributes:
        members: The modules, in eval mode, on ``device`` in ``dtype``.
        names: One name per member (architecture key or file name).
        device: Where the members run.
        dtype: The compute dtype.
        source: Where the weights came from (``"default"``, a path, ``"custom"``...).
        metadata: Free-form facts about the weights (from the manifest).
        compiled: Whether the members run through ``torch.compile``.
    """

    members: tuple[torch.nn.Module, ...]
    names: tuple[str, ...]
    device: torch.device
    dtype: torch.dtype
    source: str
    metadata: dict[str, str] = field(default_factory=dict)
    compiled: bool = False
    runners: tuple[Callable[[torch.Tensor], torch.Tensor], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.runners:
            self.runners = tuple(self.members)

    def member_logits(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """Run every member on a normalised batch ``(n, 3, h, w)``; float32 logits each."""
        batch = batch.to(self.device, self.dtype)
        outputs = []
        with torch.inference_mode():
            for member, run in zip(self.members, self.runners, strict=True):
                out = run(batch.contiguous(memory_format=memory_format(member)))
                # CUDA-graph outputs are reused by the next call: own them before summing in place.
                outputs.append(out.clone() if self.compiled and out.dtype == torch.float32 else out.float())
        return outputs

    def logits(self, batch: torch.Tensor) -> torch.Tensor:
        """Mean of the members' logits for a normalised batch: ``(n, 4, h, w)`` float32."""
        outputs = self.member_logits(batch)
        total = outputs[0]
        with torch.inference_mode():
            for extra in outputs[1:]:
                total += extra  # in place: one full-size buffer, not one per member
            if len(outputs) > 1:
                total /= len(outputs)
        return total

    def to(self, device: torch.device, dtype: torch.dtype) -> Ensemble:
        """Return an ensemble on another device/dtype.

        This ensemble is left as it is (it may be shared, e.g. cached): the members are
        copied before they are moved. Returns ``self`` when nothing changes.
        """
        if device == self.device and dtype == self.dtype:
            return self
        members = tuple(prepare(copy.deepcopy(m), device, dtype) for m in self.members)
        moved = Ensemble(members, self.names, device, dtype, self.source, dict(self.metadata))
        return moved.compile() if self.compiled else moved

    def member(self, index: int) -> Ensemble:
        """A one-member ensemble of member ``index``, sharing its module (nothing is copied)."""
        return Ensemble(
            (self.members[index],), (self.names[index],), self.device, self.dtype, self.source,
            dict(self.metadata), self.compiled, (self.runners[index],),
        )

    @property
    def version(self) -> str:
        """The weights' version from their manifest, or ``""``."""
        return self.metadata.get("version", "")

    def compile(self, mode: str | None = None) -> Ensemble:
        """Return this ensemble with its members run through ``torch.compile``.

        Compilation happens on the first batch of each new shape (tens of seconds to a few
        minutes per member on a small CPU). On CPU it also folds batch norms into the
        convolutions and prepacks weights (inductor ``freezing``). It pays off over many
        patches or scenes; keep the batch size fixed so the shape does not change. Outputs
        match eager mode within float rounding.

        Args:
            mode: ``torch.compile`` mode: ``None`` (the default), ``"reduce-overhead"``
                (CUDA graphs) or ``"max-autotune"`` (more kernels tried, and CUDA graphs).

        Returns:
            A new ensemble sharing the same member modules.
        """
        options: dict[str, str | int | bool | Callable[..., Any]] | None = (
            {"freezing": True} if self.device.type == "cpu" else None
        )
        runners = tuple(
            torch.compile(m, mode=mode, dynamic=False)
            if options is None
            else torch.compile(m, dynamic=False, options=options)
            for m in self.members
        )
        return Ensemble(
            self.members, self.names, self.device, self.dtype, self.source,
            dict(self.metadata), True, runners,
        )


def load_ensemble(
    source: str | Path | Sequence[str | Path | torch.nn.Module] | Ensemble = "default",
    *,
    device: str | torch.device | None = None,
    dtype: DtypeName | str | torch.dtype | None = None,
    weights_dir: str | Path | None = None,
    download: bool = False,
    compile: bool | str = False,
) -> Ensemble:
    """Load an ensemble of U-Net members.

    Args:
        source: ``"default"`` (the embedded model), ``"official"`` (the OCM v4 pair from
            the weights folder), a folder or file of weights, a sequence of weight files
            and/or ``torch.nn.Module`` members (copied: the caller's modules are never changed),
            or an :class:`Ensemble` to move (also copied when device or dtype change).
        device: ``"cpu"``, ``"cuda"``, ``"mps"``; best available when ``None``.
        dtype: ``"fp32"``, ``"fp16"`` or ``"bf16"``; when ``None``, bf16 on CUDA GPUs and on CPUs
            with native bf16, else fp32 (see :func:`~ocm_engine.models.policy.resolve_dtype`).
        weights_dir: Folder of official weights (else ``$OCM_WEIGHTS_DIR``, else a cache).
        download: Fetch missing official weights from the model hub (needs network).
        compile: Run the members through ``torch.compile`` (see :meth:`Ensemble.compile`);
            a string is the compile mode, e.g. ``"reduce-overhead"`` (CUDA graphs) or
            ``"max-autotune"``.

    Returns:
        The ensemble, in eval mode, on ``device``.

    Raises:
        ModelLoadError: If weights are missing, unreadable, or fit no architecture.
    """
    target = resolve_device(device)
    compute = resolve_dtype(dtype, target)
    if isinstance(source, Ensemble):
        moved = source.to(target, compute)
        return moved.compile(_compile_mode(compile)) if compile and not moved.compiled else moved
    meta: dict[str, str] = {}
    entries: list[tuple[str | None, Path | torch.nn.Module]]
    if isinstance(source, str) and source == "default":
        paths, meta = default_paths()
        entries = list(paths)
        label = "default"
    elif isinstance(source, str) and source == "official":
        entries = list(official_paths(official_weights_dir(weights_dir), download))
        label = "official-v4"
    elif isinstance(source, str | Path):
        path = Path(source).expanduser()
        if path.is_dir():
            entries = list(folder_paths(path))
        elif path.is_file():
            entries = [(None, path)]
        else:
            raise ModelLoadError(
                f"Model source {str(source)!r} is neither 'default', 'official', nor an existing "
                "weights file or folder."
            )
        label = str(path)
    else:
        entries = [(None, m if isinstance(m, torch.nn.Module) else Path(m)) for m in source]
        label = "custom"
        if not entries:
            raise ModelLoadError("load_ensemble got an empty list of members; pass at least one.")
    members: list[torch.nn.Module] = []
    names: list[str] = []
    for arch, item in entries:
        if isinstance(item, torch.nn.Module):
            members.append(copy.deepcopy(item))  # never cast or move the caller's module
            names.append(type(item).__name__)
        else:
            key, module = load_member(item, arch)
            members.append(module)
            names.append(key)
    prepared = tuple(prepare(m, target, compute) for m in members)
    ensemble = Ensemble(prepared, tuple(names), target, compute, label, meta)
    return ensemble.compile(_compile_mode(compile)) if compile else ensemble


def _compile_mode(compile: bool | str) -> str | None:
    return compile if isinstance(compile, str) else None
