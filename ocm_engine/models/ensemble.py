"""The soft-voting ensemble: load members, move them, average their logits."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import torch

from ocm_engine.backends import resolve_backend
from ocm_engine.errors import BackendError, Hints, ModelLoadError
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
        runners: What runs each member (the members, or their ``torch.compile`` wrappers).
        backend: ``"torch"``, or ``"openvino"`` when the members are
            :class:`~ocm_engine.backends.openvino.CompiledMember` (fp32 input; ``dtype`` is then
            the precision they were compiled at).
    """

    members: tuple[torch.nn.Module, ...]
    names: tuple[str, ...]
    device: torch.device
    dtype: torch.dtype
    source: str
    metadata: dict[str, str] = field(default_factory=dict)
    compiled: bool = False
    runners: tuple[Callable[[torch.Tensor], torch.Tensor], ...] = field(default=(), repr=False)
    backend: str = "torch"

    def __post_init__(self) -> None:
        if not self.runners:
            self.runners = tuple(self.members)

    def member_logits(self, batch: torch.Tensor) -> list[torch.Tensor]:
        """Run every member on a normalised batch ``(n, 3, h, w)``; float32 logits each."""
        # Compiled-runtime members take float32 and compute at the precision they were built for.
        batch = batch.to(self.device, self.dtype if self.backend == "torch" else torch.float32)
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
        copied before they are moved. Returns ``self`` when nothing changes. Compiled
        (OpenVINO) members are compiled again at the new precision from the conversion cache;
        to another device they go back to PyTorch (see :func:`with_backend`).
        """
        if device == self.device and dtype == self.dtype:
            return self
        if self.backend != "torch":
            if device.type != "cpu":
                return with_backend(self, "torch", device, dtype)
            return _compiled_ensemble(self.members, self.names, device, dtype, self.source, self.metadata,
                                      self.int8)
        members = tuple(prepare(copy.deepcopy(m), device, dtype) for m in self.members)
        moved = Ensemble(members, self.names, device, dtype, self.source, dict(self.metadata))
        return moved.compile() if self.compiled else moved

    def member(self, index: int) -> Ensemble:
        """A one-member ensemble of member ``index``, sharing its module (nothing is copied)."""
        return Ensemble(
            (self.members[index],), (self.names[index],), self.device, self.dtype, self.source,
            dict(self.metadata), self.compiled, (self.runners[index],), self.backend,
        )

    @property
    def int8(self) -> bool:
        """Whether some members run int8-quantized (OpenVINO)."""
        return any(getattr(m, "precision", "") == "int8" for m in self.members)

    @property
    def backend_label(self) -> str:
        """The backend as run facts show it, naming int8 members: ``"openvino (int8: regnety_004)"``."""
        quantized = [n for n, m in zip(self.names, self.members, strict=True)
                     if getattr(m, "precision", "") == "int8"]
        return f"{self.backend} (int8: {', '.join(quantized)})" if quantized else self.backend

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
            A new ensemble sharing the same member modules (``self`` for members already
            compiled by another backend).
        """
        if self.backend != "torch":
            return self
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
    backend: str | None = None,
    int8: bool | None = None,
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
        weights_dir: Folder of official weights; when ``None`` they are searched in
            ``$OCM_WEIGHTS_DIR``, this project's cache and the ``omnicloudmask`` package's own
            cache (see :mod:`ocm_engine.models.official`). Every file's size and SHA-256 are checked.
        download: Fetch the official weights from the model hub when none are found (needs network;
            ``ocm weights --download`` does the same with a progress bar).
        compile: Run the members through ``torch.compile`` (see :meth:`Ensemble.compile`);
            a string is the compile mode, e.g. ``"reduce-overhead"`` (CUDA graphs) or
            ``"max-autotune"``.
        backend: ``"torch"`` (eager PyTorch; the default here, except that an
            :class:`Ensemble` source keeps its own when ``None``), ``"openvino"`` (members
            converted once, cached on disk, compiled for the CPU; see
            :mod:`ocm_engine.backends.openvino`) or ``"auto"`` (OpenVINO on the CPU when
            installed, see :func:`~ocm_engine.backends.resolve_backend`).
        int8: Quantize the convolutional members to int8 (OpenVINO backend; see
            :mod:`ocm_engine.backends.quantize`); ``None``: only weights whose manifest records
            that int8 qualified (the embedded default), on a CPU with VNNI (:func:`wants_int8`),
            and only when ``dtype`` is automatic too (an explicit float dtype runs in float).

    Returns:
        The ensemble, in eval mode, on ``device``.

    Raises:
        ModelLoadError: If weights are missing, unreadable, or fit no architecture.
        BackendError: If the backend is unknown, not installed, or cannot run here.
    """
    target = resolve_device(device)
    compute = resolve_dtype(dtype, target)
    int8 = int8_request(int8, dtype)
    if isinstance(source, Ensemble):
        if backend is not None and resolve_backend(backend, target, compute) != source.backend:
            return with_backend(source, backend, target, compute, int8)
        if int8 is not None and int8 != source.int8:  # into or out of int8, at the given or its own dtype
            quantize = wants_int8(int8, source.metadata, source.backend)
            return _compiled_ensemble(source.members, source.names, source.device if device is None else target,
                                      source.dtype if dtype is None else compute, source.source,
                                      source.metadata, quantize)
        moved = source.to(target, compute)
        return moved.compile(_compile_mode(compile)) if compile and not moved.compiled else moved
    chosen = resolve_backend(backend or "torch", target, compute)
    meta: dict[str, str] = {}
    entries: list[tuple[str | None, Path | torch.nn.Module]]
    if isinstance(source, str) and source == "default":
        paths, meta = default_paths()
        entries = list(paths)
        label = "default"
    elif isinstance(source, str) and source == "official":
        official, meta = official_paths(weights_dir, download)
        entries = list(official)
        label = "official-v4"
    elif isinstance(source, str | Path):
        path = Path(source).expanduser()
        if path.is_dir():
            entries = list(folder_paths(path))
        elif path.is_file():
            entries = [(None, path)]
        else:
            raise ModelLoadError(f"Model source {str(source)!r}", arrived="no such file or folder",
                                 expected="'default', 'official', or an existing weights file or folder")
        label = str(path)
    else:
        entries = [(None, m if isinstance(m, torch.nn.Module) else Path(m)) for m in source]
        label = "custom"
        if not entries:
            raise ModelLoadError("Ensemble members", arrived=[], expected="at least one module or weights file")
    quantize = wants_int8(int8, meta, chosen)
    if chosen != "torch" and all(isinstance(item, Path) for _, item in entries):
        # Weight files: found in the conversion cache by their SHA-256 without building PyTorch modules.
        files = [(arch, item) for arch, item in entries if isinstance(item, Path)]
        if "weights_sha256" not in meta:
            meta = {**meta, **_file_identity(label, [item for _, item in files])}
        return _compiled_files(files, target, compute, label, meta, quantize)
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
    if "weights_sha256" not in meta and all(isinstance(item, Path) for _, item in entries):
        meta = {**meta, **_file_identity(label, [item for _, item in entries if isinstance(item, Path)])}
    if chosen != "torch":
        # Convert from the fp32 weights as loaded; the PyTorch modules are dropped afterwards.
        return _compiled_ensemble(tuple(members), tuple(names), target, compute, label, meta, quantize)
    prepared = tuple(prepare(m, target, compute) for m in members)
    ensemble = Ensemble(prepared, tuple(names), target, compute, label, meta)
    return ensemble.compile(_compile_mode(compile)) if compile else ensemble


def _file_identity(label: str, paths: Sequence[Path]) -> dict[str, str]:
    """Provenance of weights loaded from files: their names and SHA-256 (hashed once per process)."""
    from ocm_engine.models.weights import file_sha256

    return {"weights_name": label, "weights_revision": "",
            "weights_sha256": ",".join(f"{p.name}:{file_sha256(p)}" for p in paths), "weights_source": "file"}


def with_backend(ensemble: Ensemble, backend: str, device: torch.device | None = None,
                 dtype: torch.dtype | None = None, int8: bool | None = None) -> Ensemble:
    """The ensemble run by another backend (``ensemble`` itself is not changed).

    PyTorch members are converted to OpenVINO (from fp32 copies, through the on-disk cache);
    compiled members go back to PyTorch by reloading their source (``"default"``,
    ``"official"`` or a weights path), since their PyTorch modules were not kept.

    Args:
        ensemble: The ensemble as loaded.
        backend: ``"torch"``, ``"openvino"`` or ``"auto"``.
        device: Target device (default: the ensemble's).
        dtype: Target dtype (default: the ensemble's).
        int8: Quantize convolutional members (OpenVINO; ``None``: see :func:`wants_int8`).

    Returns:
        An ensemble on ``backend`` (``ensemble`` when nothing changes).

    Raises:
        BackendError: The backend cannot run here, or compiled members of hand-made modules
            cannot go back to PyTorch.
    """
    target = device or ensemble.device
    compute = dtype or ensemble.dtype
    chosen = resolve_backend(backend, target, compute)
    if chosen == ensemble.backend:
        return ensemble.to(target, compute)
    if chosen != "torch":
        return _compiled_ensemble(ensemble.members, ensemble.names, target, compute,
                                  ensemble.source, ensemble.metadata, wants_int8(int8, ensemble.metadata, chosen))
    if ensemble.source == "custom":
        raise BackendError(
            f"Ensemble on {ensemble.backend} built from modules in memory", arrived="no PyTorch members (not kept)",
            expected="weights it can reload ('default', 'official', a file or folder)",
            hints=Hints(python="Load the modules again with backend='torch'.",
                        cli="Load the weights again with --backend torch.",
                        app="Load the model again with the torch backend."),
        )
    source = "official" if ensemble.source == "official-v4" else ensemble.source
    return load_ensemble(source, device=target, dtype=compute, backend="torch")


INT8_QUALIFIED: Final = "qualified"
"""The manifest's ``"int8"`` value for weights whose int8 accuracy was measured and met the bar."""


def int8_request(int8: bool | None, dtype: object) -> bool | None:
    """``int8`` as asked; ``None`` (automatic) only when the dtype is automatic too.

    An explicit float dtype (``"fp32"``, ``"bf16"``, a ``torch.dtype``) runs every member in that
    precision, so it turns the automatic int8 off.
    """
    if int8 is not None:
        return int8
    return None if dtype is None or (isinstance(dtype, str) and dtype.lower() == "auto") else False


def wants_int8(int8: bool | None, metadata: dict[str, str], backend: str) -> bool:
    """Whether to quantize members: as asked, or (``None``) where the weights qualified and the CPU has VNNI.

    ``None`` quantizes only weights whose manifest says ``"int8": "qualified"`` (the embedded
    default: its accuracy cost was measured, see its model card), on the OpenVINO backend of a
    CPU with int8 dot-product instructions; other weights run in float unless ``int8=True``.

    Raises:
        BackendError: ``int8=True`` on a backend other than OpenVINO.
    """
    if int8 is None:
        from ocm_engine.backends.quantize import cpu_has_vnni, nncf_installed

        return (backend == "openvino" and metadata.get("int8") == INT8_QUALIFIED and cpu_has_vnni()
                and nncf_installed())
    if int8 and backend != "openvino":
        raise BackendError(
            "Backend for int8 inference", arrived=backend, expected="openvino (int8 runs on the OpenVINO CPU backend)",
            hints=Hints(python="Use backend='openvino' (or 'auto' on the CPU), or int8=False.",
                        cli="Use --backend openvino (or auto on the CPU), or --no-int8.",
                        app="Choose the openvino (or auto) backend on the CPU."),
        )
    return bool(int8)


def _compiled_ensemble(members: Sequence[torch.nn.Module], names: tuple[str, ...], device: torch.device,
                       dtype: torch.dtype, source: str, metadata: dict[str, str], int8: bool = False) -> Ensemble:
    """An ensemble of OpenVINO-compiled members (``members`` may be PyTorch or compiled)."""
    from ocm_engine.backends.openvino import compile_members

    resolve_backend("openvino", device, dtype)  # the clear errors: not CPU, fp16, not installed
    compiled = compile_members(members, "bf16" if dtype == torch.bfloat16 else "f32", int8=int8)
    return Ensemble(compiled, names, device, dtype, source, dict(metadata), backend="openvino")


def _compiled_files(files: Sequence[tuple[str | None, Path]], device: torch.device, dtype: torch.dtype,
                    label: str, metadata: dict[str, str], int8: bool = False) -> Ensemble:
    """An ensemble of OpenVINO-compiled members from weight files (cached by file digest)."""
    from ocm_engine.backends.openvino import compile_files

    resolve_backend("openvino", device, dtype)
    names, compiled = compile_files(files, "bf16" if dtype == torch.bfloat16 else "f32", load_member, int8=int8)
    return Ensemble(compiled, names, device, dtype, label, dict(metadata), backend="openvino")


def _compile_mode(compile: bool | str) -> str | None:
    return compile if isinstance(compile, str) else None
