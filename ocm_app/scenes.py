"""Scene specifications (which files, which bands) and the reads the app makes from them.

A :class:`SceneSpec` names a scene's files and its Red/Green/NIR mapping (1-based band
numbers in one multiband file, or file positions for one file per band) plus an optional
Blue band used only for display. Arrays are ``(bands, height, width)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ocm_app import config
from ocm_engine import Scene, get_sensor
from ocm_engine.errors import OcmWarning, ResolutionError, SceneReadError
from ocm_engine.io.readers import SceneSource
from ocm_engine.io.scene import SceneReader
from ocm_engine.sensors import preset_band_files
from ocm_engine.types import CRS

Bands = tuple[int, int, int | None]
Mapping4 = tuple[int, int, int | None, int | None]


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """One scene the app can read.

    Attributes:
        key: Stable identifier (cache key), e.g. ``"sample:oncloudn/chip_id_1"``.
        label: Name shown to users.
        paths: Absolute file paths (one multiband file, or one file per band).
        names: File names shown to users (uploads keep their original names here only).
        sensor: Sensor preset key, or ``None`` for a manual mapping.
        bands: 1-based Red, Green, NIR (bands of the file, or file positions).
        blue: 1-based Blue band or file position, for true-colour display only.
        nodata: Nodata value, or ``None`` for the file's / preset's.
        description: One line about the scene.
        kind: ``"builtin"``, ``"sample"`` or ``"upload"``.
        labels: Expert (or exact synthetic) labels: ``(scheme key, file)``, see :mod:`ocm_app.truth`.
        dataset: The scene's name in ``ocm_engine.training.data`` (e.g. ``oncloudn_chip_id_1``),
            used to flag scenes the default model was trained on; ``""`` for others.
    """

    key: str
    label: str
    paths: tuple[str, ...]
    names: tuple[str, ...]
    sensor: str | None = None
    bands: Bands | None = None
    blue: int | None = None
    nodata: float | None = None
    description: str = ""
    kind: str = "sample"
    labels: tuple[str, str] | None = None
    dataset: str = ""

    @property
    def multi_file(self) -> bool:
        """Whether the scene is one file per band."""
        return len(self.paths) > 1

    def with_mapping(self, sensor: str | None, bands: Bands | None, blue: int | None) -> SceneSpec:
        """A copy with another sensor preset / band mapping."""
        return replace(self, sensor=sensor, bands=bands, blue=blue)


@dataclass(frozen=True, slots=True)
class SceneInfo:
    """Facts about a scene's grid (from its Red band's file) and the engine's warnings about it.

    Attributes:
        crs: The grid's CRS as the engine read it (a rasterio ``CRS``), or ``None``.
        warnings: The engine's typed warnings on reading it (no CRS, outside 10-50 m, no NIR).
    """

    width: int
    height: int
    band_count: int
    file_count: int
    resolution_m: float
    crs: CRS | None
    dtype: str
    nodata: float | None
    warnings: tuple[OcmWarning, ...] = ()


def open_reader(spec: SceneSpec, resolution_m: float | None = None) -> SceneReader:
    """Open a scene with its mapping on its inference grid (the engine's :class:`SceneReader`).

    The engine applies every rule: band positions of the preset (Blue included), the
    guess for unmapped files, nodata, and the resolution (5-50 m, never upsampled); its
    warnings are kept, typed, on the reader. Uploaded band files are matched to a preset by
    the names users gave them (the saved copies have other names).

    Raises:
        OcmError: Unreadable files, a mapping that does not fit them, an impossible resolution.
    """
    source: SceneSource = list(spec.paths) if spec.multi_file else spec.paths[0]
    bands: Mapping4 | None = None
    if spec.bands is not None:
        bands = (*spec.bands, spec.blue)
    elif spec.multi_file and spec.sensor is not None:
        bands = preset_band_files(spec.names, get_sensor(spec.sensor))
    return SceneReader(source, sensor=spec.sensor, bands=bands, nodata=spec.nodata, resolution_m=resolution_m)


def resolve_mapping(spec: SceneSpec) -> Mapping4:
    """The 1-based Red, Green, NIR and Blue the engine reads for a spec (bands, or files).

    Raises:
        OcmError: Unreadable files or a mapping that does not fit them.
    """
    with open_reader(spec) as reader:
        return reader.source.mapping()


def resolve_bands(spec: SceneSpec) -> Bands:
    """The 1-based Red, Green, NIR the engine reads for a spec (see :func:`resolve_mapping`).

    Raises:
        OcmError: Unreadable files or a mapping that does not fit them.
    """
    red, green, nir, _blue = resolve_mapping(spec)
    return red, green, nir


def scene_info(spec: SceneSpec) -> SceneInfo:
    """Size, resolution, CRS and the engine's warnings of a scene.

    Raises:
        OcmError: Unreadable files or a bad mapping.
    """
    with open_reader(spec) as reader:
        src = reader.source
        return SceneInfo(src.width, src.height, src.band_count, src.file_count, src.resolution_m,
                         src.crs, src.dtype, src.nodata, reader.warnings)


def read_inference(spec: SceneSpec, resolution_m: float | None) -> Scene:
    """Read Red, Green, NIR on the inference grid (:meth:`SceneReader.read`).

    Args:
        spec: The scene and its mapping.
        resolution_m: The resolution asked for; ``None``: the engine's default.

    Returns:
        The engine's :class:`~ocm_engine.Scene` (grid, valid mask, provenance, typed warnings).

    Raises:
        ResolutionError: An impossible resolution, or a grid over the app's in-memory limit.
        OcmError: Unreadable files or a bad mapping.
    """
    with open_reader(spec, resolution_m) as reader:
        if reader.height * reader.width > config.MAX_INFERENCE_PIXELS:
            res = f"{reader.resolution_m:g} m" if math.isfinite(reader.resolution_m) else "its own resolution"
            raise ResolutionError(
                f"At {res} the scene is {reader.width} x {reader.height} px, over the app's "
                f"{config.MAX_INFERENCE_PIXELS:,} px limit. Choose a coarser resolution, or use the "
                "command line (`ocm predict`), which processes large scenes block by block."
            )
        return reader.read(blue=False)


def read_display(spec: SceneSpec, max_px: int = config.DISPLAY_MAX_PX) -> npt.NDArray[np.float32]:
    """Read Red, Green, Blue (Green again when no Blue) and NIR at display size.

    Returns:
        float32 ``(4, height, width)``: Red, Green, Blue, NIR; NaN on nodata pixels.

    Raises:
        OcmError: Unreadable files or a bad mapping.
    """
    with open_reader(spec) as reader:
        overview = reader.read_overview(max_px)
    red, green, nir = overview.data
    blue = overview.blue if overview.blue is not None else green
    out = np.stack([red, green, blue, nir]).astype(np.float32)
    out[:, ~overview.valid] = np.nan
    return out


def band_choices(spec: SceneSpec) -> list[str]:
    """Labels of the bands (or files, by the names users gave them) a mapping picks from, 1-based.

    Raises:
        OcmError: Unreadable files.
    """
    with open_reader(replace(spec, sensor=None, bands=(1, 1, None), blue=None)) as reader:
        return reader.source.band_labels(spec.names if spec.multi_file else None)


def band_count(spec: SceneSpec) -> int:
    """Bands of a one-file scene (0 when the file cannot be opened: the read reports why)."""
    try:
        with open_reader(replace(spec, paths=spec.paths[:1], sensor=None, bands=(1, 1, None), blue=None)) as reader:
            return reader.source.band_count
    except SceneReadError:
        return 0


def check_spec(spec: SceneSpec) -> None:
    """Open the scene once so mapping errors surface before a run.

    Raises:
        OcmError: Unreadable files or a bad mapping.
    """
    with open_reader(spec):
        pass


def safe_suffix(name: str) -> str:
    """The lower-case suffix of an uploaded file name if it is allowed, else ``.tif``."""
    suffix = Path(name).suffix.lower()
    return suffix if suffix in config.UPLOAD_SUFFIXES else ".tif"


def upload_spec(key: str, files: Sequence[tuple[str, Path]], sensor: str | None) -> SceneSpec:
    """A spec for uploaded files already saved to the session's folder.

    Args:
        key: Unique cache key (includes the session's folder).
        files: ``(original name, saved path)`` pairs; names are used for band matching only.
        sensor: Sensor preset key or ``None``.

    Raises:
        SceneReadError: If nothing was uploaded.
    """
    if not files:
        raise SceneReadError("No file uploaded. Upload a multiband GeoTIFF or one file per band.")
    names = tuple(n for n, _ in files)
    label = names[0] if len(names) == 1 else f"{len(names)} band files ({names[0]}, ...)"
    return SceneSpec(key, label, tuple(str(p) for _, p in files), names, sensor=sensor,
                     description="Uploaded by you (kept in this session only).", kind="upload")


_CLI_ASIDE = re.compile(r"\s*\([^()]*(--[a-z]|`ocm )[^()]*\)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`])")
APP_MAPPING_HINT = "Choose a sensor preset, or map the bands by hand, on the Run page (step 1, Bands)."


def describe_error(err: BaseException, spec: SceneSpec | None = None) -> str:
    """The engine's message, told in the app's terms.

    Saved upload paths (the app's temporary files) are replaced by the names the user uploaded,
    and command-line advice (``--sensor``, ``--bands``, ``ocm ...``) by where to do the same in the app.
    """
    text = str(err)
    if spec is not None:
        for path, name in zip(spec.paths, spec.names, strict=False):
            text = text.replace(path, name).replace(Path(path).name, name)
    text = _CLI_ASIDE.sub("", text)
    sentences = _SENTENCE.split(text)
    kept = [s for s in sentences if "--" not in s and "`ocm " not in s]
    if len(kept) < len(sentences):
        kept.append(APP_MAPPING_HINT)
    return " ".join(kept)
