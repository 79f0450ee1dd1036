"""Device and dtype policy: which device and compute dtype to use, and how to place a member there."""

from __future__ import annotations

from typing import Final

import torch

from ocm_engine.errors import Hints, ModelLoadError
from ocm_engine.types import DtypeName

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
        raise ModelLoadError("Device", arrived=device, expected="'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(
            "Device", arrived=str(device), expected="a device this machine has (PyTorch sees no CUDA GPU here)",
            hints=Hints(python="Use device='cpu' (or leave the device unset to pick the best available).",
                        cli="Use --device cpu (or leave the device unset to pick the best available).",
                        app="Choose the CPU device (or leave the device on automatic)."),
        )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError(
            "Device", arrived=str(device), expected="a device this machine has (MPS is not available here)",
            hints=Hints(python="Use device='cpu' (or leave the device unset to pick the best available).",
                        cli="Use --device cpu (or leave the device unset to pick the best available).",
                        app="Choose the CPU device (or leave the device on automatic)."),
        )
    return resolved


def cpu_flags() -> str:
    """The CPU's feature flags as ``/proc/cpuinfo`` lists them (``""`` where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            return handle.read()
    except OSError:
        return ""


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 is faster, not emulated."""
    flags = cpu_flags()
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
        raise ModelLoadError("Compute dtype", arrived=dtype,
                             expected=f"one of {', '.join(_DTYPES)}, or 'auto'") from err


_CPU_CHANNELS_LAST: Final = ("edgenext",)
"""Encoder name prefixes (timm names) that run faster channels-last on CPU (oneDNN).

Measured on the 2-core AVX-512 bench machine with 640-1000 px patches: EdgeNeXt's
channels-first LayerNorms cost a permute and a copy per block in NCHW, so it runs
faster channels-last; RegNetY's grouped convolutions are faster in NCHW. On CUDA
every member runs channels-last (tensor-core convolutions want NHWC).
"""


def memory_format(module: torch.nn.Module) -> torch.memory_format:
    """The memory format a prepared member wants its input in."""
    fmt = getattr(module, "_ocm_memory_format", torch.contiguous_format)
    return fmt if isinstance(fmt, torch.memory_format) else torch.contiguous_format


def _wants_channels_last(module: torch.nn.Module, device: torch.device) -> bool:
    if device.type == "cuda":
        return True
    if device.type != "cpu":
        return False
    name = str(getattr(getattr(module, "encoder", None), "name", "")).lower().removeprefix("tu-")
    return name.startswith(_CPU_CHANNELS_LAST)


def prepare(module: torch.nn.Module, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """Move a module to ``device``/``dtype`` in its best memory format, eval mode, no gradients.

    This changes ``module`` in place (``nn.Module.to`` does): pass a copy of modules you share.
    """
    module = module.to(device=device, dtype=dtype).eval()
    fmt = torch.channels_last if _wants_channels_last(module, device) else torch.contiguous_format
    module = module.to(memory_format=fmt)
    module._ocm_memory_format = fmt  # type: ignore[assignment]
    for param in module.parameters():
        param.requires_grad_(False)
    return module
