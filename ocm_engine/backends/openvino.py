"""The OpenVINO CPU backend: convert members once, cache them on disk, run them compiled.

Each PyTorch member is converted with OpenVINO's PyTorch front end into an f32 model whose
batch, height and width are dynamic (``[?, 3, ?, ?]``), so one conversion serves every patch
size (small images, the last row and column) with no measurable cost against a static shape
(measured on 1000 px patches: within run-to-run noise). The f32 model is saved in the cache
(:mod:`ocm_engine.backends.store`) and compiled for the CPU at the requested precision: ``f32``
(class maps identical to PyTorch fp32) or ``bf16`` (the CPU's native bf16 kernels, about twice
as fast). With ``int8=True`` convolutional members are quantized once (NNCF, see
:mod:`ocm_engine.backends.quantize`) and stored as their own entry; their float parts then
run at the requested precision.

A :class:`CompiledMember` is a parameter-free ``torch.nn.Module`` around the compiled model,
so an :class:`~ocm_engine.models.ensemble.Ensemble` of them runs through the same forward
path (TTA, members for the Compare page, the ensemble average) as PyTorch members do; the
PyTorch modules are dropped after conversion, so peak memory does not grow.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import torch

from ocm_engine.backends.store import cache_key, cached_folder, module_digest
from ocm_engine.errors import BackendError, Hints, ModelLoadError, one_line

Precision = Literal["f32", "bf16", "int8"]
SHAPE_POLICY: Final = "dynamic-n3hw"
"""The input-shape policy in every cache key: batch, height and width dynamic."""
MODEL_FILE: Final = "member.xml"
_EXAMPLE_PX: Final = 256
_CORE_LOCK = threading.Lock()
_CORE: list[Any] = []


def _openvino() -> Any:
    try:
        import openvino
    except ImportError as err:
        raise BackendError(
            "Package 'openvino' (for the OpenVINO backend)", arrived="not installed", expected="installed",
            hints=Hints(python="Install it with `pip install -r requirements.txt` (or `pip install openvino`), "
                               "or use backend='torch'.",
                        cli="Install it with `pip install -r requirements.txt` (or `pip install openvino`), "
                            "or use --backend torch.",
                        app="Choose the torch backend, or ask the operator to install openvino."),
        ) from err
    return openvino


def runtime_version() -> str:
    """The installed OpenVINO version (part of every cache key)."""
    return str(_openvino().__version__)


def core() -> Any:
    """The process's one ``openvino.Core``."""
    with _CORE_LOCK:
        if not _CORE:
            _CORE.append(_openvino().Core())
        return _CORE[0]


def _convert(module: torch.nn.Module, folder: Path) -> None:
    """Convert an fp32 CPU module to an OpenVINO model with dynamic ``[?, 3, ?, ?]`` input."""
    ov = _openvino()
    example = torch.zeros(1, 3, _EXAMPLE_PX, _EXAMPLE_PX)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape checks in smp/timm
        model = ov.convert_model(module, example_input=example)
    model.reshape({model.inputs[0]: ov.PartialShape([-1, 3, -1, -1])})
    ov.save_model(model, folder / MODEL_FILE, compress_to_fp16=False)


def fp32_copy(module: torch.nn.Module) -> torch.nn.Module:
    """An fp32, NCHW, CPU, eval copy of a member (conversion input; the original is not changed)."""
    import copy

    out = copy.deepcopy(module).to(device="cpu", dtype=torch.float32).eval()
    return out.to(memory_format=torch.contiguous_format)


def converted_folder(module: torch.nn.Module, root: Path | None = None) -> Path:
    """The cache folder of a member's f32 OpenVINO model, converting it on first use.

    Args:
        module: A PyTorch member (any device/dtype; converted from an fp32 CPU copy).
        root: The cache folder (default :func:`~ocm_engine.backends.store.compiled_cache_dir`).

    Returns:
        The folder holding :data:`MODEL_FILE` and its weights.
    """
    key = cache_key(module_digest(module), "openvino", runtime_version(), "f32", SHAPE_POLICY)
    return cached_folder(key, lambda tmp: _convert(fp32_copy(module), tmp), root)


NAME_FILE: Final = "member_name.txt"


def file_folder(
    path: Path, arch: str | None, load: Callable[[Path, str | None], tuple[str, torch.nn.Module]],
    root: Path | None = None,
) -> tuple[str, Path]:
    """The cache folder of a weights file's f32 OpenVINO model, keyed by the file's SHA-256.

    A second run finds the folder without building the PyTorch module at all (the slow part
    of loading), so it starts faster than an eager-PyTorch load.

    Args:
        path: The weights file.
        arch: Its architecture key, or ``None`` to infer it when loading.
        load: ``load(path, arch) -> (name, module)``; called only when the file is not cached.
        root: The cache folder (default :func:`~ocm_engine.backends.store.compiled_cache_dir`).

    Returns:
        ``(member name, folder)``.
    """
    from ocm_engine.models.weights import file_sha256

    digest = f"file:{file_sha256(path)}:{arch}"
    key = cache_key(digest, "openvino", runtime_version(), "f32", SHAPE_POLICY)

    def write(tmp: Path) -> None:
        name, module = load(path, arch)
        _convert(fp32_copy(module), tmp)
        (tmp / NAME_FILE).write_text(name, encoding="utf-8")

    folder = cached_folder(key, write, root)
    return (folder / NAME_FILE).read_text(encoding="utf-8").strip(), folder


class CompiledMember(torch.nn.Module):
    """A member compiled by OpenVINO for the CPU, called like the PyTorch module it replaces.

    Takes a normalised float32 batch ``(n, 3, h, w)`` and returns float32 logits
    ``(n, 4, h, w)``. Calls are serialised by a lock (one infer request per member, shared
    by the threads of an app), and every output is a fresh tensor.

    Attributes:
        folder: The cache folder of the model (recompiled from there at another precision).
        precision: ``"f32"``, ``"bf16"`` or ``"int8"``.
        threads: CPU threads the compiled model uses.
        float_precision: What an int8 model's float operations run in (``"f32"``/``"bf16"``).
        float_folder: The f32 model an int8 one was quantized from (``folder`` otherwise).
    """

    def __init__(self, folder: Path, precision: Precision, threads: int | None = None,
                 float_precision: Literal["f32", "bf16"] = "f32", float_folder: Path | None = None) -> None:
        """Compile the model in ``folder`` for the CPU at ``precision``."""
        super().__init__()
        self.folder = folder
        self.float_folder = float_folder or folder
        self.precision = precision
        self.threads = int(threads or torch.get_num_threads())
        self.float_precision: Literal["f32", "bf16"] = "bf16" if precision == "bf16" else (
            float_precision if precision == "int8" else "f32")
        hint = self.float_precision
        config = {
            "INFERENCE_PRECISION_HINT": hint,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": self.threads,
        }
        runtime = core()
        self._compiled = runtime.compile_model(runtime.read_model(folder / MODEL_FILE), "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()
        self._ocm_memory_format = torch.contiguous_format

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Float32 logits ``(n, 4, h, w)`` of a normalised batch ``(n, 3, h, w)``."""
        array = np.ascontiguousarray(batch.detach().to("cpu", torch.float32).numpy())
        with self._lock:
            result = self._request.infer({0: array})
            out = np.array(result[0], dtype=np.float32, copy=True)
        return torch.from_numpy(out)

    def recompiled(self, precision: Literal["f32", "bf16"]) -> CompiledMember:
        """The same model compiled at another precision (an int8 model stays int8, its float parts change)."""
        if self.precision == "int8":
            return CompiledMember(self.folder, "int8", self.threads, precision, self.float_folder)
        return CompiledMember(self.folder, precision, self.threads)

    def extra_repr(self) -> str:
        """Shown by ``repr``: the precision and cache folder."""
        rest = f" (float parts {self.float_precision})" if self.precision == "int8" else ""
        return f"precision={self.precision}{rest}, threads={self.threads}, folder={self.folder.name}"

    def __deepcopy__(self, memo: dict[int, Any]) -> CompiledMember:
        """A compiled model is not copyable: a copy is compiled again from the cache folder."""
        return CompiledMember(self.folder, self.precision, self.threads, self.float_precision, self.float_folder)


def _member(folder: Path, precision: Literal["f32", "bf16"], int8: bool, root: Path | None) -> CompiledMember:
    """A compiled member from its f32 cache folder: its int8 copy where asked for and suited."""
    if int8:
        from ocm_engine.backends.quantize import int8_folder

        quantized = int8_folder(folder, root)
        if quantized is not None:
            return CompiledMember(quantized, "int8", float_precision=precision, float_folder=folder)
    return CompiledMember(folder, precision)


def _conversion_error(what: str, err: Exception) -> BackendError:
    """The error for a member OpenVINO could not convert, with the way back to PyTorch per front end."""
    return BackendError(
        f"OpenVINO conversion of {what}", arrived=f"a failure ({type(err).__name__}: {one_line(err, limit=300)})",
        expected="a converted model",
        hints=Hints(python="Use backend='torch' for this model, or report the architecture.",
                    cli="Use --backend torch for this model, or report the architecture.",
                    app="Choose the torch backend for this model, or report the architecture."),
    )


def compile_members(
    modules: Sequence[torch.nn.Module], precision: Literal["f32", "bf16"], root: Path | None = None,
    *, int8: bool = False,
) -> tuple[CompiledMember, ...]:
    """Convert (or find in the cache) and compile every member at ``precision``.

    Args:
        modules: PyTorch members (already compiled members are recompiled at ``precision``).
        precision: ``"f32"`` or ``"bf16"``.
        root: The cache folder (default: :func:`~ocm_engine.backends.store.compiled_cache_dir`).
        int8: Quantize the convolutional members (see :mod:`ocm_engine.backends.quantize`).

    Returns:
        One :class:`CompiledMember` per module, in order.

    Raises:
        BackendError: If OpenVINO is missing or a member cannot be converted.
    """
    out: list[CompiledMember] = []
    for module in modules:
        if isinstance(module, CompiledMember):
            if int8 != (module.precision == "int8"):  # into int8, or back to the float model
                out.append(_member(module.float_folder, precision, int8, root))
            else:
                current = module.float_precision if module.precision == "int8" else module.precision
                out.append(module if current == precision else module.recompiled(precision))
            continue
        try:
            folder = converted_folder(module, root)
        except (BackendError, ModelLoadError):
            raise
        except Exception as err:
            raise _conversion_error(f"the member {type(module).__name__}", err) from err
        out.append(_member(folder, precision, int8, root))
    return tuple(out)


def compile_files(
    entries: Sequence[tuple[str | None, Path]], precision: Literal["f32", "bf16"],
    load: Callable[[Path, str | None], tuple[str, torch.nn.Module]], root: Path | None = None,
    *, int8: bool = False,
) -> tuple[tuple[str, ...], tuple[CompiledMember, ...]]:
    """Compile weight files at ``precision``, converting only the files not yet cached.

    Args:
        entries: ``(architecture key or None, weights file)`` per member.
        precision: ``"f32"`` or ``"bf16"``.
        load: ``load(path, arch) -> (name, module)`` for files not in the cache.
        root: The cache folder.
        int8: Quantize the convolutional members (see :mod:`ocm_engine.backends.quantize`).

    Returns:
        The member names and the compiled members, in order.

    Raises:
        BackendError: If OpenVINO is missing or a member cannot be converted.
    """
    names: list[str] = []
    members: list[CompiledMember] = []
    for arch, path in entries:
        try:
            name, folder = file_folder(path, arch, load, root)
        except (BackendError, ModelLoadError):
            raise
        except Exception as err:
            raise _conversion_error(f"the weights {path.name}", err) from err
        names.append(name)
        members.append(_member(folder, precision, int8, root))
    return tuple(names), tuple(members)
