"""Where a result came from: every input band's file and number, the engine and the models.

Written to the class GeoTIFF's tags (text, as GeoTIFF tags are) and to the JSON beside it
(numbers stay numbers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Literal

BandRole = Literal["red", "green", "nir", "blue"]


def engine_version() -> str:
    """The installed ``ocm-studio`` version (``"0+unknown"`` when not installed as a package)."""
    try:
        return metadata.version("ocm-studio")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True, slots=True)
class BandSource:
    """One model input band.

    Attributes:
        role: ``"red"``, ``"green"``, ``"nir"`` or ``"blue"`` (display only).
        file: The file's path, or ``"<bytes>"`` for in-memory input.
        band: **1-based** band number within that file, as GDAL and rasterio number bands.
        name: The product's band name when known (``"B04"``), else ``""``.
    """

    role: BandRole
    file: str
    band: int
    name: str = ""

    def as_dict(self) -> dict[str, str | int]:
        """Plain values for JSON."""
        return {"role": self.role, "file": self.file, "band": self.band, "name": self.name}


@dataclass(frozen=True, slots=True)
class WeightsIdentity:
    """Which weights made a result (from :attr:`Ensemble.metadata`).

    Attributes:
        name: The weights' name (``"NickWright/OmniCloudMask v4"``, ``"ocm-studio-default"``, a path).
        revision: The hub revision or manifest version they are pinned to (``""`` if none).
        sha256: The member files' digests, ``"arch:sha256,arch:sha256"``.
    """

    name: str = ""
    revision: str = ""
    sha256: str = ""

    @classmethod
    def from_facts(cls, facts: Mapping[str, str]) -> WeightsIdentity:
        """Read ``weights_name``, ``weights_revision`` and ``weights_sha256`` from run facts."""
        return cls(facts.get("weights_name", ""), facts.get("weights_revision", ""),
                   facts.get("weights_sha256", ""))

    def as_dict(self) -> dict[str, str]:
        """Plain values for JSON."""
        return {"name": self.name, "revision": self.revision, "sha256": self.sha256}


WEIGHTS_FACTS = ("weights_name", "weights_revision", "weights_sha256", "weights_source")
"""Ensemble-metadata keys that carry the weights' identity (folded into :class:`WeightsIdentity`)."""


@dataclass(frozen=True, slots=True)
class RunFacts:
    """How a prediction was run: the settings the engine actually used (numbers stay numbers).

    Set by :func:`~ocm_engine.predict_array` on :attr:`Prediction.run <ocm_engine.Prediction.run>`
    and carried into :class:`~ocm_engine.outputs.report.SceneOutputs`; written as text only
    where the format is text (GeoTIFF tags, :meth:`as_tags`).

    Attributes:
        patch_px: Patch side used, in pixels (after fitting to the image).
        overlap_px: Overlap used, in pixels.
        batch_size: Patches per forward pass (after any out-of-memory halving).
        device: The device that ran the models (``"cpu"``, ``"cuda:0"``).
        dtype: The compute dtype (``"float32"``, ``"bfloat16"``).
        tta_transforms: Test-time augmentation transforms per patch; 0 when off.
        backend: What ran the members (``"torch"``, ``"openvino"``).
        model_version: The weights' version (manifest), or ``""``.
        weights: Which weight files made the result.
        weights_source: Which kind of folder the weights came from (``ensemble.metadata``), or ``""``.
    """

    patch_px: int = 0
    overlap_px: int = 0
    batch_size: int = 0
    device: str = ""
    dtype: str = ""
    tta_transforms: int = 0
    backend: str = ""
    model_version: str = ""
    weights: WeightsIdentity = field(default_factory=WeightsIdentity)
    weights_source: str = ""

    @property
    def tta_text(self) -> str:
        """``"off"`` or the number of transforms, as the tags and the app show it."""
        return str(self.tta_transforms) if self.tta_transforms else "off"

    def as_tags(self) -> dict[str, str]:
        """The GeoTIFF tag form of the settings (the weights travel in the provenance's tags)."""
        return {"patch_px": str(self.patch_px), "overlap_px": str(self.overlap_px), "device": self.device,
                "dtype": self.dtype, "batch_size": str(self.batch_size), "tta": self.tta_text,
                "backend": self.backend}

    def as_text(self) -> dict[str, str]:
        """Every fact as text, keyed as the former ``Prediction.extra`` (kept for its readers)."""
        tags = self.as_tags()
        backend = tags.pop("backend")
        weights = {"weights_name": self.weights.name, "weights_revision": self.weights.revision,
                   "weights_sha256": self.weights.sha256, "weights_source": self.weights_source}
        return {**tags, "model_version": self.model_version, "backend": backend,
                **{k: v for k, v in weights.items() if v}}


@dataclass(frozen=True, slots=True)
class Provenance:
    """The inputs and models behind a prediction.

    Attributes:
        bands: The Red, Green, NIR (absent when missing) and Blue (when known) sources.
        sensor: The sensor preset key, or ``None``.
        source_resolution_m: The input's pixel size (``nan`` when unknown).
        resolution_m: The inference resolution (``nan`` when unknown).
        model: The ensemble's description.
        model_version: The weights' version (manifest), or ``""``.
        engine_version: The engine's version.
        weights: Which weight files made the result.
    """

    bands: tuple[BandSource, ...]
    sensor: str | None = None
    source_resolution_m: float = math.nan
    resolution_m: float = math.nan
    model: str = ""
    model_version: str = ""
    engine_version: str = ""
    weights: WeightsIdentity = field(default_factory=WeightsIdentity)

    def with_model(self, model: str, model_version: str, weights: WeightsIdentity | None = None) -> Provenance:
        """A copy naming the models, their weights and this engine's version."""
        return Provenance(self.bands, self.sensor, self.source_resolution_m, self.resolution_m,
                          model, model_version, engine_version(), weights or WeightsIdentity())

    def as_dict(self) -> dict[str, object]:
        """JSON form: numbers as numbers (``None`` for unknown resolutions)."""
        return {
            "bands": [b.as_dict() for b in self.bands],
            "sensor": self.sensor,
            "source_resolution_m": _number(self.source_resolution_m),
            "inference_resolution_m": _number(self.resolution_m),
            "model": self.model,
            "model_version": self.model_version,
            "engine_version": self.engine_version,
            "weights": self.weights.as_dict(),
        }

    def as_tags(self) -> dict[str, str]:
        """GeoTIFF tag form: ``band_red="file:band"``, versions, resolutions."""
        tags = {f"band_{b.role}": f"{b.file}:{b.band}" + (f" ({b.name})" if b.name else "") for b in self.bands}
        tags["engine_version"] = self.engine_version
        tags["model_version"] = self.model_version
        tags["sensor"] = self.sensor or ""
        tags["source_resolution_m"] = _text(self.source_resolution_m, "unknown")
        tags["inference_resolution_m"] = _text(self.resolution_m, "source")
        # The reference package's 1.8 tag names, so tools reading its outputs read ours too.
        tags["OCM_VERSION"] = self.engine_version
        tags["OCM_MODEL_VERSION"] = self.model_version
        tags["OCM_WEIGHTS"] = self.weights.name
        tags["OCM_WEIGHTS_REVISION"] = self.weights.revision
        tags["OCM_WEIGHTS_SHA256"] = self.weights.sha256
        return tags


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _text(value: float, missing: str) -> str:
    return f"{value:.4g}" if math.isfinite(value) else missing
