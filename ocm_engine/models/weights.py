"""Registry of weight files: which file holds which member, its checksum and its metadata.

In the spirit of torchgeo's weights enums (``url``, ``meta={"bands": ..., "encoder": ...}``),
but plain data: a :class:`WeightSpec` per member file, :data:`OFFICIAL_WEIGHTS` for the
OCM v4 pair and :func:`default_weights` for the embedded ensemble (read from its manifest,
so retraining only rewrites ``ensemble.json``). A spec with a ``sha256`` is verified when
loaded; a manifest member may carry ``"sha256"`` to pin the embedded files the same way.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ocm_engine.constants import CHANNELS, CLASS_NAMES
from ocm_engine.errors import Hints, ModelLoadError, WeightsCorruptError
from ocm_engine.models.registry import MODEL_SPECS

HUB_REPO_ID: Final = "NickWright/OmniCloudMask"
"""The model hub repository the reference package (``omnicloudmask``) downloads from."""
HUB_REVISION: Final = "c9a4fb88188709127aa25cfe51ae7fd41b0132f8"
"""The repository commit the official v4 pair is pinned to."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightSpec:
    """One member's weight file.

    Attributes:
        key: Registry key, ``"<ensemble>/<arch>"``.
        arch: Architecture key in :data:`~ocm_engine.models.registry.MODEL_SPECS`.
        file: File name.
        sha256: Expected SHA-256 of the file (hex), or ``None`` when not pinned.
        size_bytes: Expected size, or ``None`` when not pinned (checked before hashing).
        version: The ensemble's version.
        meta: Facts about the weights: input bands, classes, source URL, licence...
    """

    key: str
    arch: str
    file: str
    sha256: str | None = None
    size_bytes: int | None = None
    version: str = ""
    meta: Mapping[str, str] = field(default_factory=dict)


_META: Final = {"bands": ",".join(CHANNELS), "classes": ",".join(CLASS_NAMES)}

_OFFICIAL_PINS: Final = {  # arch: (size in bytes, SHA-256), from the reference package's manifest
    "regnety_004": (27_094_520, "7f6e4202e17ee73efa4aba7abb5c34f4f90a9f7eb42480820714994dff2db660"),
    "edgenext_small": (30_711_472, "d5fe67ad00f6fdb73eb8382ad925849e97fb82cedb46225344afff1a734a9c1d"),
}

OFFICIAL_WEIGHTS: Final[dict[str, WeightSpec]] = {
    spec.key: spec
    for spec in (
        WeightSpec(
            key=f"official-v4/{arch}", arch=arch, file=str(MODEL_SPECS[arch].official_file), version="4.0",
            sha256=sha, size_bytes=size,
            meta={**_META, "url": f"https://huggingface.co/{HUB_REPO_ID}", "revision": HUB_REVISION,
                  "licence": "see the model hub"},
        )
        for arch, (size, sha) in _OFFICIAL_PINS.items()
    )
}


def default_weights(folder: Path) -> tuple[tuple[WeightSpec, ...], dict[str, str]]:
    """The weight specs and metadata of the ensemble described by ``folder/ensemble.json``.

    Raises:
        ModelLoadError: If the manifest is missing or malformed.
    """
    manifest = folder / "ensemble.json"
    if not manifest.is_file():
        raise ModelLoadError(
            f"Default model folder {folder}", arrived=f"no {manifest.name} (no default model is packaged here)",
            expected="the packaged ensemble's manifest",
            hints=Hints(python="Train one (ocm_engine.training.train.train_member), or load official weights with "
                               "load_ensemble('official', weights_dir=...).",
                        cli="Train one with `ocm train`, or use the official weights (--weights official).",
                        app="Reinstall the app, or use the official weights (the weights panel)."),
        )
    try:
        info = json.loads(manifest.read_text())
        name, version = str(info.get("name", folder.name)), str(info.get("version", ""))
        specs = tuple(
            WeightSpec(key=f"{name}/{m['arch']}", arch=str(m["arch"]), file=str(m["file"]),
                       sha256=m.get("sha256"), version=version, meta=dict(_META))
            for m in info["members"]
        )
    except (ValueError, KeyError, TypeError) as err:
        raise ModelLoadError(f"Manifest {manifest}", arrived=f"invalid JSON or fields ({type(err).__name__}: {err})",
                             expected='an ensemble manifest ({"name", "version", "members": [{"arch", "file"}]})',
                             ) from err
    meta = {k: str(v) for k, v in info.items() if k != "members"}
    return specs, meta


_DIGESTS: dict[tuple[str, int, int], str] = {}
_DIGESTS_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, hex; remembered per process by (path, size, mtime), so a file is hashed once.

    A file rewritten in place keeps its path but changes size or mtime, so it is hashed again.
    """
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _DIGESTS_LOCK:
        known = _DIGESTS.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    with _DIGESTS_LOCK:
        _DIGESTS[key] = digest.hexdigest()
    return digest.hexdigest()


def weights_mismatch(spec: WeightSpec, path: Path) -> tuple[str, str] | None:
    """``(found, pinned)`` when ``path`` is not the file ``spec`` pins, else ``None`` (also when nothing is pinned).

    The size is compared first (no hashing for a truncated file), then the SHA-256.
    """
    size = path.stat().st_size
    if spec.size_bytes is not None and size != spec.size_bytes:
        return f"{size:,} bytes", f"{spec.size_bytes:,} bytes"
    if spec.sha256 is None:
        return None
    actual = file_sha256(path)
    if actual != spec.sha256.lower():
        return f"sha256 {actual[:12]}...", f"sha256 {spec.sha256[:12]}..."
    return None


def weights_problem(spec: WeightSpec, path: Path) -> str:
    """Why ``path`` is not the file ``spec`` pins (``"1,024 bytes, expected 27,094,520 bytes"``; ``""`` when it is)."""
    mismatch = weights_mismatch(spec, path)
    return "" if mismatch is None else f"{mismatch[0]}, expected {mismatch[1]}"


def verify_weights(spec: WeightSpec, path: Path) -> None:
    """Check a file against its spec's size and checksum (nothing to check when neither is pinned).

    Raises:
        WeightsCorruptError: If the size or SHA-256 differs: the file is corrupt, truncated or another version.
    """
    mismatch = weights_mismatch(spec, path)
    if mismatch is not None:
        found, pinned = mismatch
        raise WeightsCorruptError(
            f"Weights file {path}", arrived=f"{found} (corrupt, truncated or another version)",
            expected=f"{pinned} (the registered weights {spec.key})",
            hints=Hints(python="Delete it and download it again (load_ensemble('official', download=True) for "
                               "the official pair), or re-export it.",
                        cli="Delete it and download it again (`ocm weights --download` for the official pair), "
                            "or re-export it.",
                        app="Delete it and download it again (the weights panel's download button for the "
                            "official pair), or re-export it."),
        )
