"""Inference backends: eager PyTorch, or members compiled by a CPU runtime (OpenVINO).

:func:`resolve_backend` turns ``"auto" | "torch" | "openvino"`` into the backend that runs;
``auto`` takes OpenVINO on the CPU when it is installed, because it measured faster there at
both precisions (2-core AVX512-BF16 EPYC, trained default members, one 1000 px patch, under
load: regnety_004 U-Net 1.16 s PyTorch fp32 -> 0.54 s OpenVINO f32 -> 0.29 s OpenVINO bf16;
edgenext_small U-Net 1.37 s -> 0.74 s -> 0.44 s). ``$OCM_BACKEND`` overrides what ``auto``
picks (e.g. ``OCM_BACKEND=torch`` to switch the compiled backend off).
"""

from __future__ import annotations

import importlib.util
import os
from typing import Final, Literal, get_args

import torch

from ocm_engine.errors import BackendError, Hints

BackendName = Literal["auto", "torch", "openvino"]
BACKEND_ENV: Final = "OCM_BACKEND"
"""Environment variable that sets what ``backend="auto"`` resolves to (``torch``/``openvino``)."""
BACKEND_NAMES: Final[tuple[str, ...]] = get_args(BackendName)


def openvino_installed() -> bool:
    """Whether the ``openvino`` package can be imported."""
    return importlib.util.find_spec("openvino") is not None


def resolve_backend(name: str | None, device: torch.device, dtype: torch.dtype) -> Literal["torch", "openvino"]:
    """The backend that runs members on ``device`` at ``dtype``.

    Args:
        name: ``"auto"`` (or ``None``), ``"torch"`` or ``"openvino"``.
        device: The compute device.
        dtype: The compute dtype.

    Returns:
        ``"openvino"`` for ``auto`` on the CPU at fp32/bf16 when OpenVINO is installed (unless
        ``$OCM_BACKEND`` says otherwise), else ``"torch"``; a named backend as named.

    Raises:
        BackendError: An unknown name, or ``openvino`` where it cannot run (not installed,
            not the CPU, fp16).
    """
    requested = (name or "auto").lower()
    if requested not in BACKEND_NAMES:
        raise BackendError("Backend", arrived=name, expected=f"one of {', '.join(BACKEND_NAMES)}")
    if requested == "auto":
        env = os.environ.get(BACKEND_ENV, "").strip().lower()
        if env in ("torch", "openvino"):
            requested = env
        elif env not in ("", "auto"):
            raise BackendError(f"${BACKEND_ENV}", arrived=env, expected=f"one of {', '.join(BACKEND_NAMES)}",
                               hints=Hints.same(f"Unset ${BACKEND_ENV} for the automatic choice."))
        else:
            usable = device.type == "cpu" and dtype in (torch.float32, torch.bfloat16)
            return "openvino" if usable and openvino_installed() else "torch"
    if requested == "openvino":
        if device.type != "cpu":
            raise BackendError(
                "Device for the OpenVINO backend", arrived=str(device), expected="cpu",
                hints=Hints(python="Use device='cpu', or backend='torch' (or 'auto') on a GPU.",
                            cli="Use --device cpu, or --backend torch (or auto) on a GPU.",
                            app="Choose the CPU device (sidebar), or the torch or auto backend on a GPU."),
            )
        if dtype not in (torch.float32, torch.bfloat16):
            raise BackendError(
                "Compute dtype for the OpenVINO backend", arrived=str(dtype).removeprefix("torch."),
                expected="fp32 or bf16",
                hints=Hints(python="Use dtype='fp32' or 'bf16', or backend='torch'.",
                            cli="Use --dtype fp32 or bf16, or --backend torch.",
                            app="Choose fp32 or bf16 precision (sidebar), or the torch backend."),
            )
        if not openvino_installed():
            raise BackendError(
                "Package 'openvino' (for the OpenVINO backend)", arrived="not installed", expected="installed",
                hints=Hints(python="Install it with `pip install -r requirements.txt`, or use backend='torch'.",
                            cli="Install it with `pip install -r requirements.txt`, or use --backend torch.",
                            app="Choose the torch backend, or ask the operator to install openvino."),
            )
        return "openvino"
    return "torch"


__all__ = ["BACKEND_ENV", "BACKEND_NAMES", "BackendName", "openvino_installed", "resolve_backend"]
