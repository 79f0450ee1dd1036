"""One scene's outputs as a typed value, and the one JSON report written from it.

:func:`~ocm_engine.predict_file` returns a :class:`SceneOutputs`; :func:`to_json` turns it into the
``*_ocm.json`` report. The same function serves STAC items (their ``stac`` section is passed in
and written in the first, only, commit), batch workers (which read the returned value, not the
file) and the app's JSON download, so there is one report schema.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from ocm_engine.errors import OcmWarning
from ocm_engine.metrics import ClassStatistics
from ocm_engine.options import InferenceOptions, ReadOptions
from ocm_engine.outputs.atomic import json_text, write_json
from ocm_engine.provenance import Provenance, RunFacts


@runtime_checkable
class ReportSection(Protocol):
    """An extra section of the report, typed by the layer that knows its facts.

    The STAC layer's :class:`~ocm_engine.stac.predict.StacFacts` (catalog, item, window) is one.
    The report writes ``as_dict()`` under ``name``.
    """

    @property
    def name(self) -> str:
        """The section's key in the JSON report (``"stac"``)."""
        ...

    def as_dict(self) -> dict[str, Any]:
        """The section as JSON values."""
        ...


_Section = TypeVar("_Section", bound=ReportSection)


@dataclass(frozen=True, slots=True)
class OutputPaths:
    """Where one scene's outputs go.

    Attributes:
        classes: The class GeoTIFF.
        probabilities: The 4-band probability GeoTIFF, when asked for.
        png: The quick-look PNG, when asked for.
        stats: The JSON report (written last: it marks the outputs complete).
    """

    classes: Path
    probabilities: Path | None
    png: Path | None
    stats: Path

    def all(self) -> list[Path]:
        """Every path that will be written."""
        return [p for p in (self.classes, self.probabilities, self.png, self.stats) if p]


def output_paths(stem: str, output_dir: Path, probabilities: bool, png: bool) -> OutputPaths:
    """The output files for a scene stem (``<stem>_ocm.tif``, ``.json``, ``.png``, ``_probabilities.tif``)."""
    base = output_dir / f"{stem}_ocm"
    return OutputPaths(
        base.with_suffix(".tif"),
        base.with_name(base.name + "_probabilities.tif") if probabilities else None,
        base.with_suffix(".png") if png else None,
        base.with_suffix(".json"),
    )


@dataclass(frozen=True, slots=True)
class SceneOutputs:
    """One masked scene: its files and everything its report says.

    ``os.fspath(outputs)`` and :attr:`path` give the class GeoTIFF, which is what
    :func:`~ocm_engine.predict_file` returned before it returned this value.

    Attributes:
        paths: The files written.
        statistics: Class counts and percentages over the valid pixels.
        provenance: Input bands, sensor, resolutions, models and weights.
        run: The settings the engine used (patch, overlap, batch, device, dtype, TTA, backend).
        warnings: The engine's warnings about the scene (typed, as raised).
        source: The scene's name.
        seconds: Wall time of the whole call.
        options: The inference options asked for.
        read_options: The read options asked for (not named ``read``: rasterio and other
            file-openers take any object with a ``read`` attribute for a file object).
        software: What wrote the outputs (``"ocm_engine"``, ``"ocm_studio app"``).
        sections: Extra report sections, typed (:class:`ReportSection`; STAC items carry
            their catalog, item and window). :meth:`section` finds one by its type.
    """

    paths: OutputPaths
    statistics: ClassStatistics
    provenance: Provenance
    run: RunFacts
    warnings: tuple[OcmWarning, ...] = ()
    source: str = ""
    seconds: float = 0.0
    options: InferenceOptions = field(default_factory=InferenceOptions)
    read_options: ReadOptions = field(default_factory=ReadOptions)
    software: str = "ocm_engine"
    sections: tuple[ReportSection, ...] = ()

    def section(self, kind: type[_Section]) -> _Section | None:
        """The extra section of type ``kind`` (``outputs.section(StacFacts)``), or ``None``."""
        return next((s for s in self.sections if isinstance(s, kind)), None)

    @property
    def path(self) -> Path:
        """The class GeoTIFF (``*_ocm.tif``)."""
        return self.paths.classes

    def __fspath__(self) -> str:
        """The class GeoTIFF's path, so the value can be opened or passed on like a path."""
        return os.fspath(self.paths.classes)

    def __str__(self) -> str:
        """The class GeoTIFF's path."""
        return str(self.paths.classes)


def run_section(outputs: SceneOutputs) -> dict[str, object]:
    """The report's ``run`` section: who ran what, how, for how long (numbers as numbers)."""
    prov = outputs.provenance.as_dict()
    run = outputs.run
    return {
        "model": outputs.provenance.model, "source": outputs.source, "software": outputs.software,
        "seconds": round(outputs.seconds, 3), "options": outputs.options.as_dict(),
        "device": run.device, "dtype": run.dtype, "batch_size": run.batch_size or None,
        "patch_px": run.patch_px or None, "overlap_px": run.overlap_px or None,
        "sensor": outputs.read_options.sensor or "",
        "inference_resolution_m": prov["inference_resolution_m"],
        "source_resolution_m": prov["source_resolution_m"],
    }


def to_json(outputs: SceneOutputs) -> dict[str, Any]:
    """The JSON report of one scene (the ``*_ocm.json`` schema).

    Args:
        outputs: The scene's outputs.

    Returns:
        ``statistics``, ``run``, ``provenance``, ``warnings``, ``outputs`` and the extra sections.
    """
    payload: dict[str, Any] = {
        "statistics": outputs.statistics.as_dict(),
        "run": run_section(outputs),
        "provenance": outputs.provenance.as_dict(),
        "warnings": [f"{type(w).__name__}: {w}" for w in outputs.warnings],
        "outputs": [str(p) for p in outputs.paths.all()],
    }
    payload.update({section.name: section.as_dict() for section in outputs.sections})
    return payload


def report_bytes(outputs: SceneOutputs) -> bytes:
    """The JSON report as the bytes of its file (e.g. for a download)."""
    return json_text(to_json(outputs)).encode()


def write_report(path: Path, outputs: SceneOutputs, *, overwrite: bool = False) -> Path:
    """Write the JSON report atomically.

    Args:
        path: Target file (a partial, inside :func:`predict_file`'s commit).
        outputs: The scene's outputs.
        overwrite: Replace an existing file.

    Returns:
        The path written.
    """
    return write_json(path, to_json(outputs), overwrite=overwrite)
