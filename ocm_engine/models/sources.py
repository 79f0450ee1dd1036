"""Weight sources: the embedded default, the official OCM v4 files, folders and single files.

Each source resolves to ``(architecture key or None, weights path)`` entries that
:func:`load_member` turns into modules; the architectures and official file names come
from :mod:`ocm_engine.models.registry`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import torch

from ocm_engine.errors import Hints, ModelLoadError, one_line
from ocm_engine.models.registry import (
    MODEL_SPECS,
    ModelSpec,
    build_member,
    spec_for_file,
)
from ocm_engine.models.weights import default_weights, file_sha256, verify_weights

WEIGHTS_ENV: Final = "OCM_WEIGHTS_DIR"
DEFAULT_WEIGHTS_DIR: Final = Path(__file__).resolve().parent.parent / "weights"
MANIFEST_NAME: Final = "ensemble.json"
WEIGHT_SUFFIXES: Final = (".safetensors", ".pth", ".pt")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from a ``.safetensors`` or ``.pth``/``.pt`` file.

    Raises:
        ModelLoadError: If the file is missing, unreadable or holds no state dict.
    """
    if not path.is_file():
        raise ModelLoadError(f"Weights file {path}", arrived="no such file", expected="an existing weights file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(path), device="cpu"))
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ModelLoadError(
            f"Weights file {path}", arrived=f"a read error ({one_line(err, limit=300)})",
            expected="a safetensors file or a torch state dict saved with torch.save(model.state_dict(), path)",
        ) from err
    if isinstance(loaded, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(loaded.get(key), dict):
                loaded = loaded[key]
                break
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        found = "a dict with values that are not tensors" if isinstance(loaded, dict) else f"a {type(loaded).__name__}"
        raise ModelLoadError(
            f"Weights file {path}", arrived=found, expected="a state dict of tensors",
            hints=Hints.same("Save weights with torch.save(model.state_dict(), path) or safetensors."),
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
        f"Weights file {path}", arrived=f"a state dict that fits none of the architectures tried ({'; '.join(errors)})",
        expected=f"an smp.Unet state dict with one of the encoders {[s.encoder for s in MODEL_SPECS.values()]}",
        hints=Hints.same("Name the file after its encoder."),
    )


def official_weights_dir(path: str | Path | None = None) -> Path:
    """The folder official weights are downloaded to: the argument, else ``$OCM_WEIGHTS_DIR``, else a cache.

    Loading searches more folders (see :mod:`ocm_engine.models.official`).
    """
    from ocm_engine.models.official import download_dir

    return download_dir(path)


def official_paths(
    folder: str | Path | None, download: bool
) -> tuple[list[tuple[str, Path]], dict[str, str]]:
    """The verified official OCM v4 members as ``(arch, path)``, and their identity for provenance.

    Args:
        folder: An explicit folder (searched alone), or ``None`` to search every known place.
        download: Fetch the pair from the hub when no folder holds it.

    Raises:
        ModelLoadError: If no complete, verified pair is found (and ``download`` is off or fails).
    """
    from ocm_engine.models.official import resolve_official

    found = resolve_official(folder, download=download)
    return found.members, found.metadata()


def default_paths() -> tuple[list[tuple[str, Path]], dict[str, str]]:
    """The embedded default ensemble's ``(arch, path)`` members (checksums verified) and metadata.

    Raises:
        ModelLoadError: If no default model is packaged, or a file fails its checksum.
    """
    specs, meta = default_weights(DEFAULT_WEIGHTS_DIR)
    members = []
    digests = []
    for spec in specs:
        path = DEFAULT_WEIGHTS_DIR / spec.file
        if path.is_file():
            verify_weights(spec, path)
            digests.append(f"{spec.arch}:{spec.sha256 or file_sha256(path)}")
        members.append((spec.arch, path))
    identity = {"weights_name": meta.get("name", "default"), "weights_revision": meta.get("version", ""),
                "weights_sha256": ",".join(digests), "weights_source": "embedded"}
    return members, {**meta, **identity}


def folder_paths(folder: Path) -> list[tuple[str | None, Path]]:
    """The members of a weights folder: from its ``ensemble.json``, else every weights file.

    Raises:
        ModelLoadError: If the folder holds no weights files.
    """
    manifest = folder / MANIFEST_NAME
    if manifest.is_file():
        info = json.loads(manifest.read_text())
        return [(m.get("arch"), folder / m["file"]) for m in info["members"]]
    files = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise ModelLoadError(
            f"Weights folder {folder}", arrived="no weight files (*.safetensors, *.pth, *.pt)",
            expected="the member files of an ensemble (e.g. the official OCM v4 pair), or an ensemble.json",
        )
    return [(None, p) for p in files]
