"""The engine's one model cache: an ensemble is loaded once per process, source, device and dtype.

Used by the default ensemble of :func:`~ocm_engine.predict_array` and friends, by batch
workers, and by the app (whose ``@st.cache_resource`` may wrap :func:`cached_ensemble`
or simply call it). Cached ensembles are shared: they stay in eval mode and are never
mutated (:meth:`Ensemble.to` returns a copy).
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from ocm_engine.backends import resolve_backend
from ocm_engine.models.ensemble import Ensemble, int8_request, load_ensemble
from ocm_engine.models.policy import resolve_device, resolve_dtype
from ocm_engine.types import DtypeName

CacheKey = tuple[str, str, str, str, str, str]
"""``(source, device, dtype, compile, backend, int8)`` as strings (the backend as resolved)."""

_CACHE: dict[CacheKey, Ensemble] = {}
_LOADS: list[CacheKey] = []
_LOCK = threading.Lock()


def cached_ensemble(
    source: str | Path = "default",
    *,
    device: str | torch.device | None = None,
    dtype: DtypeName | str | torch.dtype | None = None,
    compile: bool | str = False,
    backend: str | None = "auto",
    int8: bool | None = None,
) -> Ensemble:
    """Return the process's ensemble for ``(source, device, dtype, compile, backend)``, loading it on first use.

    ``None`` device/dtype resolve first (best device, its default dtype), so ``None`` and the
    resolved name share one entry. Errors are not cached.

    Args:
        source: ``"default"``, ``"official"`` or a weights file/folder (see :func:`load_ensemble`).
        device: Compute device.
        dtype: Compute dtype.
        compile: Run the members through ``torch.compile``.
        backend: ``"auto"`` (OpenVINO on the CPU when installed, else PyTorch), ``"torch"`` or
            ``"openvino"`` (see :func:`~ocm_engine.backends.resolve_backend`). Compiled members
            replace the PyTorch ones: only one copy of the weights stays in memory.
        int8: Quantize members (OpenVINO); ``None``: where the weights qualified and ``dtype`` is
            automatic (see :func:`~ocm_engine.models.ensemble.wants_int8`).

    Returns:
        The shared ensemble (do not mutate it).

    Raises:
        ModelLoadError: If the weights cannot be found or loaded.
    """
    target = resolve_device(device)
    compute = resolve_dtype(dtype, target)
    chosen = resolve_backend(backend, target, compute)
    int8 = int8_request(int8, dtype)  # still None only when the dtype is automatic
    key: CacheKey = (str(source), str(target), str(compute).removeprefix("torch."), str(compile), chosen, str(int8))
    with _LOCK:
        if key not in _CACHE:
            # an automatic dtype is passed on as such, so the automatic int8 can apply
            _CACHE[key] = load_ensemble(source, device=target, dtype=compute if int8 is not None else None,
                                         compile=compile, backend=chosen, int8=int8)
            _LOADS.append(key)
        return _CACHE[key]


def model_loads() -> list[CacheKey]:
    """The keys this process has loaded, in order (diagnostics: one load per worker)."""
    with _LOCK:
        return list(_LOADS)


def clear_model_cache() -> None:
    """Forget every cached ensemble (tests; freeing GPU memory)."""
    with _LOCK:
        _CACHE.clear()
        _LOADS.clear()
