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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ocm_engine.constants import CHANNELS, CLASS_NAMES
from ocm_engine.errors import ModelLoadError
from ocm_engine.models.registry import MODEL_SPECS

HUB_REPO_ID: Final = "DPIRD-DMA/OmniCloudMask"


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightSpec:
    """One member's weight file.

    Attributes:
        key: Registry key, ``"<ensemble>/<arch>"``.
        arch: Architecture key in :data:`~ocm_engine.models.registry.MODEL_SPECS`.
        file: File name.
        sha256: Expected SHA-256 of the file (hex), or ``None`` when not pinned.
        version: The ensemble's version.
        meta: Facts about the weights: input bands, classes, source URL, licence...
    """

    key: str
    arch: str
    file: str
    sha256: str | None = None
    version: str = ""
    meta: Mapping[str, str] = field(default_factory=dict)


_META: Final = {"bands": ",".join(CHANNELS), "classes": ",".join(CLASS_NAMES)}

OFFICIAL_WEIGHTS: Final[dict[str, WeightSpec]] = {
    spec.key: spec
    for spec in (
        WeightSpec(
            key=f"official-v4/{arch}", arch=arch, file=str(MODEL_SPECS[arch].official_file), version="4.0",
            meta={**_META, "url": f"https://huggingface.co/{HUB_REPO_ID}", "licence": "see the model hub"},
        )
        for arch in ("regnety_004", "edgenext_small")
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
            f"No default model is packaged in this installation ({manifest} is missing). Train one "
            "with `ocm train`, or load official weights with load_ensemble('official', weights_dir=...)."
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
        raise ModelLoadError(f"{manifest} is not a valid ensemble manifest ({err}).") from err
    meta = {k: str(v) for k, v in info.items() if k != "members"}
    return specs, meta


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_weights(spec: WeightSpec, path: Path) -> None:
    """Check a file against its spec's checksum (nothing to check when ``sha256`` is ``None``).

    Raises:
        ModelLoadError: If the file's SHA-256 differs: it is corrupt, truncated or another version.
    """
    if spec.sha256 is None:
        return
    actual = file_sha256(path)
    if actual != spec.sha256.lower():
        raise ModelLoadError(
            f"{path} does not match the registered weights {spec.key} (sha256 {actual[:12]}... , expected "
            f"{spec.sha256[:12]}...): the file is corrupt, truncated or another version. Re-download or "
            "re-export it."
        )
