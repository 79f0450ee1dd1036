"""The on-disk cache of converted members: where it lives, what keys it, how it is written.

A converted member is a folder ``<cache>/<key>/`` holding the runtime's files. The key is a
SHA-256 over everything the conversion depends on: the member's architecture (its module
``repr``) and weights (every tensor of its state dict, as float32 bytes), the runtime and its
version, the stored precision (``f32`` or ``int8``) and the input-shape policy. Two sessions
may convert the same member at once: each writes into its own ``.partial-*`` folder and
renames it into place; whoever renames second drops its copy and uses the first one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final

import torch

CACHE_ENV: Final = "OCM_COMPILED_DIR"
"""Environment variable naming the folder of converted members (overrides the default)."""


def compiled_cache_dir() -> Path:
    """The folder of converted members: ``$OCM_COMPILED_DIR``, else ``~/.cache/ocm_studio/compiled``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base).expanduser() if base else Path.home() / ".cache"
    return root / "ocm_studio" / "compiled"


def module_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's architecture (``repr``) and weights (float32 bytes, by name).

    Two modules with the same digest convert to the same runtime model, whatever their
    current dtype or memory format (weights are hashed as contiguous float32).
    """
    sha = hashlib.sha256(repr(module).encode())
    with torch.inference_mode():
        for name, tensor in module.state_dict().items():
            sha.update(name.encode())
            sha.update(str(tuple(tensor.shape)).encode())
            data = tensor.detach().to("cpu")
            if data.is_floating_point():
                data = data.float()
            sha.update(data.contiguous().numpy().tobytes())
    return sha.hexdigest()


def cache_key(digest: str, runtime: str, version: str, precision: str, shape_policy: str) -> str:
    """The folder name for one converted member (a short, filesystem-safe hash)."""
    text = "|".join((digest, runtime, version, precision, shape_policy))
    return f"{runtime}-{precision}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def cached_folder(key: str, write: Callable[[Path], None], root: Path | None = None) -> Path:
    """The cache folder for ``key``, calling ``write(tmp_folder)`` to fill it when absent.

    ``write`` fills a private temporary folder, which is then renamed into place in one
    step (``os.replace``), so a reader never sees a half-written member. If another process
    finished first, its folder is kept and ours is discarded.

    Args:
        key: From :func:`cache_key`.
        write: Writes the member's files into the folder it is given.
        root: The cache folder (default :func:`compiled_cache_dir`).

    Returns:
        The complete folder.
    """
    base = root or compiled_cache_dir()
    final = base / key
    if final.is_dir():
        return final
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{key}.partial-", dir=base))
    try:
        write(tmp)
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.is_dir():  # not a lost race: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
