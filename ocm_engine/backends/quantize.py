"""int8 post-training quantization of U-Net members (OpenVINO + NNCF), cached on disk.

What goes int8 (:func:`float_scope`): in a *convolutional* member (RegNetY) every convolution
but the first (the stem that sees the z-scored bands) and the last (the segmentation head);
in a member with LayerNorm (``MVN``), ``Softmax`` or ``MatMul`` operations (EdgeNeXt's
attention) only the decoder's convolutions, the encoder and the head stay in float. Float
parts run at the ensemble's precision (bf16 on CPUs with native bf16).

How: NNCF's min-max statistics on 36 z-scored patches (:func:`calibration_batches`) of the
project's own procedural scenes (:func:`ocm_engine.synthetic.procedural_scene`, several
resolutions; no data file is needed, so any weights can be quantized on any machine), weights
per channel, symmetric, then NNCF's full bias correction (its fast variant cost 0.2 points of
agreement). Measured on the embedded default v1.1.0 (one 1000 px patch, quiet 2-core machine:
RegNetY 0.27 s bf16 -> 0.15 s; EdgeNeXt 0.49 s -> 0.32 s with its decoder int8): class agreement
with fp32 on the shared Sentinel-2 and On Cloud N chips 99.680 % (all-bf16: 99.921 %; with
the fast bias correction 99.468 %); the model card has the held-out table.

The quantized model is a cache entry of its own, keyed by the f32 entry it comes from, the
NNCF version and :data:`POLICY` (which changes whenever the recipe does).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch

from ocm_engine.backends.store import cache_key, cached_folder
from ocm_engine.errors import BackendError, Hints, one_line

POLICY: Final = "ptq-minmax-biascorr-synthetic12x3-384px-v3"
"""The quantization recipe, part of every int8 cache key."""
CALIBRATION_SCENES: Final = 12
CALIBRATION_PX: Final = 384
CALIBRATION_RESOLUTIONS_M: Final = (10.0, 20.0, 30.0, 5.0, 50.0, 15.0)
ATTENTION_OPS: Final = frozenset({"MVN", "Softmax", "MatMul"})
"""Operations (LayerNorm, attention) that keep a member's encoder in float."""
ENCODER_PATTERN: Final = r".*__module\.encoder\..*"
"""Operation names of a U-Net's encoder (segmentation-models-pytorch naming, as converted)."""


def _nncf() -> Any:
    try:
        with _quiet():
            import nncf
    except ImportError as err:
        raise BackendError(
            "Package 'nncf' (quantizes the members for int8 inference)", arrived="not installed", expected="installed",
            hints=Hints(python="Install it with `pip install -r requirements.txt`, or run without int8 (int8=False).",
                        cli="Install it with `pip install -r requirements.txt`, or run without int8 (--no-int8).",
                        app="Run without int8, or ask the operator to install nncf."),
        ) from err
    return nncf


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """NNCF's log lines and progress bars kept off the user's terminal (errors still raise)."""
    loggers = [logging.getLogger(name) for name in ("nncf", "torch.utils.cpp_extension")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def nncf_installed() -> bool:
    """Whether the ``nncf`` package (which quantizes members) can be imported."""
    import importlib.util

    return importlib.util.find_spec("nncf") is not None


def cpu_has_vnni() -> bool:
    """Whether this CPU has int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX-INT8)."""
    from ocm_engine.models.policy import cpu_flags

    flags = cpu_flags()
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def is_convolutional(model: Any) -> bool:
    """Whether an OpenVINO model has none of :data:`ATTENTION_OPS` (it suits int8)."""
    kinds = Counter(op.get_type_name() for op in model.get_ordered_ops())
    return not any(kinds[name] for name in ATTENTION_OPS)


def calibration_batches() -> list[np.ndarray]:
    """The calibration inputs: ``(1, 3, s, s)`` float32 z-scored procedural patches (deterministic).

    :data:`CALIBRATION_SCENES` procedural scenes (about 1.4 s each on one core), each as it is,
    turned a quarter and mirrored: 36 patches.
    """
    from ocm_engine.normalize import zscore_batch
    from ocm_engine.synthetic import procedural_scene

    out = []
    valid = torch.ones((1, 1, CALIBRATION_PX, CALIBRATION_PX), dtype=torch.bool)
    for seed in range(CALIBRATION_SCENES):
        resolution = CALIBRATION_RESOLUTIONS_M[seed % len(CALIBRATION_RESOLUTIONS_M)]
        reflectance, _ = procedural_scene(CALIBRATION_PX, resolution, seed)
        patch = zscore_batch(torch.from_numpy(np.ascontiguousarray(reflectance[None].astype(np.float32))), valid)
        for view in (patch, torch.rot90(patch, 1, (2, 3)), torch.flip(patch, (3,))):
            out.append(np.ascontiguousarray(view.numpy()))
    return out


def float_scope(model: Any) -> tuple[list[str], list[str]] | None:
    """What of a member stays in float: ``(operation names, name patterns)``, or ``None`` for all of it.

    A convolutional member keeps its first convolution (the stem that sees the z-scored bands)
    and its last (the segmentation head). A member with attention or LayerNorm keeps its whole
    encoder and its head, and only its decoder's convolutions go int8; without a recognisable
    encoder such a member stays in float.
    """
    ops = list(model.get_ordered_ops())
    convs = [op.get_friendly_name() for op in ops if op.get_type_name() == "Convolution"]
    if len(convs) < 2:
        return None
    if is_convolutional(model):
        return [convs[0], convs[-1]], []
    encoder = re.compile(ENCODER_PATTERN)
    if not any(encoder.fullmatch(op.get_friendly_name()) for op in ops):
        return None
    decoder_convs = [name for name in convs[:-1] if not encoder.fullmatch(name)]
    return ([convs[-1]], [ENCODER_PATTERN]) if decoder_convs else None


def _quantize_into(f32_folder: Path, tmp: Path, model_file: str, scope: tuple[list[str], list[str]]) -> None:
    from ocm_engine.backends.openvino import _openvino, core

    nncf = _nncf()
    ov = _openvino()
    model = core().read_model(f32_folder / model_file)
    names, patterns = scope
    samples = calibration_batches()
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        quantized = nncf.quantize(model, nncf.Dataset(samples), subset_size=len(samples),
                                  ignored_scope=nncf.IgnoredScope(names=names, patterns=patterns, validate=False),
                                  fast_bias_correction=False)
    ov.save_model(quantized, tmp / model_file, compress_to_fp16=False)


def int8_folder(f32_folder: Path, root: Path | None = None) -> Path | None:
    """The cache folder of the int8 copy of a converted member, quantizing it on first use.

    Args:
        f32_folder: The member's f32 cache folder (from :mod:`ocm_engine.backends.openvino`).
        root: The cache folder (default :func:`~ocm_engine.backends.store.compiled_cache_dir`).

    Returns:
        The int8 folder, or ``None`` for a member that is not convolutional (it stays in float).

    Raises:
        BackendError: NNCF is not installed, or the quantization failed.
    """
    from ocm_engine.backends.openvino import MODEL_FILE, core, runtime_version

    scope = float_scope(core().read_model(f32_folder / MODEL_FILE))
    if scope is None:
        return None
    nncf = _nncf()
    key = cache_key(f"{f32_folder.name}|nncf {nncf.__version__}", "openvino", runtime_version(), "int8", POLICY)
    try:
        return cached_folder(key, lambda tmp: _quantize_into(f32_folder, tmp, MODEL_FILE, scope),
                             root or f32_folder.parent)
    except BackendError:
        raise
    except Exception as err:
        raise BackendError(
            f"NNCF quantization of the member in {f32_folder.name}",
            arrived=f"a failure ({type(err).__name__}: {one_line(err, limit=300)})", expected="an int8 model",
            hints=Hints(python="Run without int8 (int8=False).", cli="Run without int8 (--no-int8).",
                        app="Run without int8."),
        ) from err
