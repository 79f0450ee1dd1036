"""The soft-voting ensemble: load members, move them, average their logits."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import torch

from ocm_engine.errors import ModelLoadError
from ocm_engine.models.registry import (
    DEFAULT_MEMBERS,
    MODEL_SPECS,
    ModelSpec,
    build_member,
    spec_for_file,
)
from ocm_engine.types import DtypeName

WEIGHTS_ENV: Final = "OCM_WEIGHTS_DIR"
DEFAULT_WEIGHTS_DIR: Final = Path(__file__).resolve().parent.parent / "weights"
MANIFEST_NAME: Final = "ensemble.json"
WEIGHT_SUFFIXES: Final = (".safetensors", ".pth", ".pt")
HUB_REPO_ID: Final = "DPIRD-DMA/OmniCloudMask"
_DTYPES: Final[dict[str, torch.dtype]] = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
}


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return the requested device, or the best available one (cuda > mps > cpu).

    Raises:
        ModelLoadError: If a device is named that this machine does not have.
    """
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ModelLoadError(
            f"Unknown device {device!r}. Expected 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'."
        ) from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(
            "Device 'cuda' was asked for but PyTorch sees no CUDA GPU here. "
            "Use --device cpu (or leave the device unset to pick the best available)."
        )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError("Device 'mps' was asked for but is not available; use 'cpu'.")
    return resolved


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 is faster, not emulated."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            flags = handle.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_dtype(dtype: DtypeName | str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """Return the compute dtype: the one asked for, else the fastest safe one for the device.

    The automatic choice is bf16 on CUDA GPUs that support it and on CPUs with native
    bf16 (AVX512-BF16/AMX: about twice as fast, class maps 99.9 % identical to fp32 with
    the default model), fp32 elsewhere. Ask for ``"fp32"`` for the closest match to the
    reference engine.

    Raises:
        ModelLoadError: If the name is not one of fp32, fp16, bf16.
    """
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if device.type == "cpu" and cpu_has_native_bf16():
            return torch.bfloat16
        return torch.float32
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError as err:
        raise ModelLoadError(
            f"Unknown dtype {dtype!r}. Expected one of: {', '.join(_DTYPES)}."
        ) from err


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
                out = run(batch.contiguous(memory_format=_memory_format(member)))
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
        """Return an ensemble on another device/dtype (members are moved, not copied)."""
        members = tuple(_prepare(m, device, dtype) for m in self.members)
        moved = Ensemble(members, self.names, device, dtype, self.source, dict(self.metadata))
        return moved.compile() if self.compiled else moved

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


_CPU_CHANNELS_LAST: Final = ("edgenext",)
"""Encoder name prefixes (timm names) that run faster channels-last on CPU (oneDNN).

Measured on the 2-core AVX-512 bench machine with 640-1000 px patches: EdgeNeXt's
channels-first LayerNorms cost a permute and a copy per block in NCHW, so it runs
faster channels-last; RegNetY's grouped convolutions are faster in NCHW. On CUDA
every member runs channels-last (tensor-core convolutions want NHWC).
"""


def _memory_format(module: torch.nn.Module) -> torch.memory_format:
    fmt = getattr(module, "_ocm_memory_format", torch.contiguous_format)
    return fmt if isinstance(fmt, torch.memory_format) else torch.contiguous_format


def _wants_channels_last(module: torch.nn.Module, device: torch.device) -> bool:
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    name = str(getattr(getattr(module, "encoder", None), "name", "")).lower().removeprefix("tu-")
    return name.startswith(_CPU_CHANNELS_LAST)


def _prepare(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    module = module.to(device=device, dtype=dtype).eval()
    fmt = torch.channels_last if _wants_channels_last(module, device) else torch.contiguous_format
    module = module.to(memory_format=fmt)
    module._ocm_memory_format = fmt  # type: ignore[assignment]
    for param in module.parameters():
        param.requires_grad_(False)
    return module


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.safetensors`` or ``.pth``/``.pt`` file.

    Raises:
        ModelLoadError: If the file is missing, unreadable or holds no state dict.
    """
    if not path.is_file():
        raise ModelLoadError(f"Weights file not found: {path}.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(path), device="cpu"))
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelLoadError(
            f"Could not read weights from {path}: {err}. Expected a safetensors file or a "
            "torch state dict saved with torch.save(model.state_dict(), path)."
        ) from err
    if isinstance(loaded, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise ModelLoadError(
            f"{path} does not hold a state dict of tensors. Save weights with "
            "torch.save(model.state_dict(), path) or safetensors."
        )
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in loaded.items()}


def load_member(path: Path, arch: str | None = None) -> tuple[str, torch.nn.Module]:
    """Build the right architecture for a weights file and load it (strictly).

    The architecture comes from ``arch``, else from the file name, else every
    registered architecture is tried.

    Returns:
        The architecture key and the loaded float32 module.

    Raises:
        ModelLoadError: If no registered architecture accepts the weights.
    """
    state = read_state_dict(path)
    named = MODEL_SPECS.get(arch) if arch else spec_for_file(path.name)
    candidates: list[ModelSpec] = [named] if named else list(MODEL_SPECS.values())
    errors: list[str] = []
    for spec in candidates:
        model = build_member(spec.key)
        try:
            model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        except RuntimeError as err:
            errors.append(f"{spec.key}: {str(err).splitlines()[0]}")
            continue
        return spec.key, model
    raise ModelLoadError(
        f"The weights in {path} fit none of the architectures tried "
        f"({'; '.join(errors)}). Expected an smp.Unet state dict with one of the encoders "
        f"{[s.encoder for s in MODEL_SPECS.values()]}; name the file after its encoder."
    )


def official_weights_dir(path: str | Path | None = None) -> Path:
    """The folder for official weights: the argument, else ``$OCM_WEIGHTS_DIR``, else a cache."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "ocm_studio" / "weights"


def download_official_weights(dest: Path) -> list[Path]:
    """Download the official OCM v4 weight files into ``dest`` (needs network access).

    Raises:
        ModelLoadError: If ``huggingface_hub`` is missing or the hub cannot be reached.
    """
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as err:
        raise ModelLoadError(
            "Downloading official weights needs `pip install huggingface_hub`. Or copy the "
            f"official files into {dest} (or set ${WEIGHTS_ENV})."
        ) from err
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for key in DEFAULT_MEMBERS:
        name = MODEL_SPECS[key].official_file
        assert name is not None
        try:
            paths.append(Path(hf_hub_download(HUB_REPO_ID, name, local_dir=str(dest))))
        except Exception as err:
            raise ModelLoadError(
                f"Could not download {name} from the model hub ({err}). This machine may be "
                f"offline: copy the official weight files into {dest} or set ${WEIGHTS_ENV}, "
                "or use the embedded default model (load_ensemble('default'))."
            ) from err
    return paths


def _official_paths(folder: Path, download: bool) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    missing: list[tuple[str, Path]] = []
    for key in DEFAULT_MEMBERS:
        name = MODEL_SPECS[key].official_file
        assert name is not None
        path = folder / name
        (found if path.is_file() else missing).append((key, path))
    if missing and download:
        download_official_weights(folder)
        return [(key, folder / str(MODEL_SPECS[key].official_file)) for key in DEFAULT_MEMBERS]
    if missing:
        names = ", ".join(p.name for _, p in missing)
        raise ModelLoadError(
            f"Official OCM v4 weights not found in {folder}: missing {names}. Copy them there, "
            f"point ${WEIGHTS_ENV} or --weights at the folder holding them, or pass "
            "download=True (needs network)."
        )
    return found


def _default_paths() -> tuple[list[tuple[str, Path]], dict[str, str]]:
    manifest = DEFAULT_WEIGHTS_DIR / MANIFEST_NAME
    if not manifest.is_file():
        raise ModelLoadError(
            "No default model is packaged in this installation "
            f"({manifest} is missing). Train one with `ocm train`, or load official weights "
            "with load_ensemble('official', weights_dir=...)."
        )
    info = json.loads(manifest.read_text())
    members = [(m["arch"], DEFAULT_WEIGHTS_DIR / m["file"]) for m in info["members"]]
    meta = {k: str(v) for k, v in info.items() if k != "members"}
    return members, meta


def _folder_paths(folder: Path) -> list[tuple[str | None, Path]]:
    manifest = folder / MANIFEST_NAME
    if manifest.is_file():
        info = json.loads(manifest.read_text())
        return [(m.get("arch"), folder / m["file"]) for m in info["members"]]
    files = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise ModelLoadError(
            f"No weight files (*.safetensors, *.pth, *.pt) in {folder}. Expected the member "
            "files of an ensemble, e.g. the official OCM v4 pair."
        )
    return [(None, p) for p in files]


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
            and/or ``torch.nn.Module`` members, or an :class:`Ensemble` to move.
        device: ``"cpu"``, ``"cuda"``, ``"mps"``; best available when ``None``.
        dtype: ``"fp32"``, ``"fp16"`` or ``"bf16"``; bf16 on CUDA, fp32 elsewhere when ``None``.
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
        paths, meta = _default_paths()
        entries = list(paths)
        label = "default"
    elif isinstance(source, str) and source == "official":
        entries = list(_official_paths(official_weights_dir(weights_dir), download))
        label = "official-v4"
    elif isinstance(source, str | Path):
        path = Path(source).expanduser()
        if path.is_dir():
            entries = list(_folder_paths(path))
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
            members.append(item)
            names.append(type(item).__name__)
        else:
            key, module = load_member(item, arch)
            members.append(module)
            names.append(key)
    prepared = tuple(_prepare(m, target, compute) for m in members)
    ensemble = Ensemble(prepared, tuple(names), target, compute, label, meta)
    return ensemble.compile(_compile_mode(compile)) if compile else ensemble


def _compile_mode(compile: bool | str) -> str | None:
    return compile if isinstance(compile, str) else None
