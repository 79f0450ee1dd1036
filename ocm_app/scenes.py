"""Scene specifications (which files, which bands) and the reads the app makes from them.

A :class:`SceneSpec` names a scene's files and its Red/Green/NIR mapping (1-based band
numbers in one multiband file, or file positions for one file per band) plus an optional
Blue band used only for display. Arrays are ``(bands, height, width)``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import Affine

from ocm_app import config
from ocm_engine import get_sensor
from ocm_engine.errors import BandMismatchError, ResolutionError, SceneReadError
from ocm_engine.io.readers import RasterSource, open_scene
from ocm_engine.resolution import choose_resolution
from ocm_engine.sensors import match_band_files

Bands = tuple[int, int, int | None]

#: Blue position (1-based) in the usual multiband stack of each preset, for display only.
BLUE_BAND_INDEX: dict[str, int] = {
    "sentinel2_l1c": 2, "sentinel2_l1c_b08": 2, "sentinel2_l2a": 2, "sentinel2_l2a_b08": 2,
    "landsat8_9_oli": 2, "landsat7_etm": 1, "landsat4_5_tm": 1, "hls_l30": 2, "hls_s30": 2,
    "planetscope_4band": 1, "planetscope_8band": 2, "maxar_4band": 3, "maxar_8band": 2,
    "generic_rgbn": 3,
}
#: Blue band names looked for among single-band files, for display only.
BLUE_BAND_NAMES: tuple[str, ...] = ("b02", "b2", "blue")


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
    """Facts about a scene's grid (from its Red band's file)."""

    width: int
    height: int
    band_count: int
    file_count: int
    resolution_m: float
    crs: str | None
    dtype: str
    nodata: float | None


@contextmanager
def open_spec(spec: SceneSpec) -> Iterator[RasterSource]:
    """Open a scene with its mapping (see :func:`ocm_engine.io.readers.open_scene`).

    Raises:
        OcmError: Unreadable files or a mapping that does not fit them.
    """
    sources: str | list[str] = list(spec.paths) if spec.multi_file else spec.paths[0]
    bands = resolve_bands(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing CRS is reported by scene_info
        src = open_scene(sources, sensor=None if bands else spec.sensor, bands=bands,
                         nodata=spec.nodata)
    with src:
        yield src


def resolve_bands(spec: SceneSpec) -> Bands | None:
    """The explicit 1-based mapping of a spec (band-file names matched for presets).

    Raises:
        BandMismatchError: One-file-per-band scenes whose names do not carry the preset's bands.
    """
    if spec.bands is not None:
        return spec.bands
    if not spec.multi_file or spec.sensor is None:
        return None
    preset = get_sensor(spec.sensor)
    try:
        red, green, nir = match_band_files(list(spec.names), preset)
    except LookupError as err:
        raise BandMismatchError(
            f"Could not find bands {preset.band_names} of {preset.label} in the file names "
            f"{list(spec.names)}. Choose 'Manual' and map the files by hand."
        ) from err
    return red + 1, green + 1, None if nir is None else nir + 1


_ROLE_TOKENS: dict[str, set[str]] = {
    "red": {"red", "b04", "b4"}, "green": {"green", "b03", "b3"}, "nir": {"nir", "b08", "b8", "b8a"},
}


def guess_band_files(names: Sequence[str]) -> Bands:
    """A first guess of Red, Green, NIR among one-file-per-band names (1-based positions).

    Names carrying ``red``/``green``/``nir`` or Sentinel-2 style ``B04``/``B03``/``B08`` tokens are
    matched; roles left over take the first unused files in upload order. The Run page shows the
    guess in its band-mapping control, to be checked by the user.
    """
    found: dict[str, int] = {}
    for role, tokens in _ROLE_TOKENS.items():
        for pos, name in enumerate(names, start=1):
            stem = name.rsplit(".", 1)[0].lower()
            if set(re.split(r"[^a-z0-9]+", stem)) & tokens and pos not in found.values():
                found[role] = pos
                break
    free = iter(p for p in range(1, len(names) + 1) if p not in found.values())
    red = found.get("red") or next(free, 1)
    green = found.get("green") or next(free, 1)
    nir = found.get("nir") or next(free, None)
    return red, green, nir


def default_blue(spec: SceneSpec) -> int | None:
    """Best guess of the Blue band (1-based) for display, or ``None``."""
    if spec.multi_file:
        for pos, name in enumerate(spec.names, start=1):
            stem = name.rsplit(".", 1)[0].lower()
            tokens = set(re.split(r"[^a-z0-9]+", stem))
            if tokens & set(BLUE_BAND_NAMES):
                return pos
        return None
    if spec.sensor in BLUE_BAND_INDEX:
        return BLUE_BAND_INDEX[spec.sensor]
    return None


def scene_info(spec: SceneSpec) -> SceneInfo:
    """Size, resolution and CRS of a scene.

    Raises:
        OcmError: Unreadable files or a bad mapping.
    """
    with open_spec(spec) as src:
        ds = src.datasets[src.refs[0].dataset]
        return SceneInfo(src.width, src.height, src.band_count, len(src.datasets),
                         src.resolution_m, src.crs.to_string() if src.crs else None,
                         ds.dtypes[0], src.nodata)


def inference_resolution(info: SceneInfo, requested_m: float | None) -> float:
    """The resolution the app infers at (the engine's rules; ``nan`` when unknown).

    Raises:
        ResolutionError: Finer than 5 m or finer than the source.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return choose_resolution(info.resolution_m, requested_m)


def inference_shape(info: SceneInfo, resolution_m: float) -> tuple[int, int]:
    """``(height, width)`` of the inference grid at ``resolution_m``.

    Raises:
        ResolutionError: If the grid exceeds the app's in-memory limit.
    """
    factor = resolution_m / info.resolution_m if math.isfinite(resolution_m) and math.isfinite(
        info.resolution_m) else 1.0
    shape = (max(1, round(info.height / factor)), max(1, round(info.width / factor)))
    if shape[0] * shape[1] > config.MAX_INFERENCE_PIXELS:
        raise ResolutionError(
            f"At {resolution_m:g} m the scene is {shape[1]} x {shape[0]} px, over the app's "
            f"{config.MAX_INFERENCE_PIXELS:,} px limit. Choose a coarser resolution, or use the "
            "command line (`ocm predict`), which processes large scenes block by block."
        )
    return shape


def read_inference_array(spec: SceneSpec, shape: tuple[int, int]) -> tuple[
        npt.NDArray[np.float32], Affine, str | None, float | None]:
    """Read Red, Green, NIR on the inference grid.

    Returns:
        ``(3, height, width)`` float32, the grid's transform, its CRS (WKT/EPSG string) and
        the nodata value.
    """
    with open_spec(spec) as src:
        coarser = shape[0] < src.height
        image = src.read(out_shape=shape,
                         resampling=Resampling.average if coarser else Resampling.nearest)
        transform = src.transform * Affine.scale(src.width / shape[1], src.height / shape[0])
        crs = src.crs.to_string() if src.crs else None
        return image, transform, crs, src.nodata


def read_display(spec: SceneSpec, max_px: int = config.DISPLAY_MAX_PX) -> npt.NDArray[np.float32]:
    """Read Red, Green, Blue (Green again when no Blue) and NIR at display size.

    Returns:
        float32 ``(4, height, width)``: Red, Green, Blue, NIR; NaN on nodata pixels.
    """
    with open_spec(spec) as src:
        scale = max(src.width, src.height) / max_px
        shape = (max(1, round(src.height / max(scale, 1))), max(1, round(src.width / max(scale, 1))))
        rgn = src.read(out_shape=shape, resampling=Resampling.average if scale > 1 else Resampling.nearest)
        blue_pos = spec.blue
        blue = rgn[1].copy()
        if blue_pos is not None:
            try:
                if spec.multi_file:
                    ds = src.datasets[blue_pos - 1]
                    band = 1
                else:
                    ds = src.datasets[0]
                    band = blue_pos
                if 1 <= band <= ds.count and (ds.width, ds.height) == (src.width, src.height):
                    blue = ds.read(band, out_shape=shape, resampling=Resampling.average).astype(np.float32)
            except (IndexError, rasterio.errors.RasterioError):
                pass
        out = np.stack([rgn[0], rgn[1], blue, rgn[2]]).astype(np.float32)
        nodata = src.nodata
        if nodata is not None:
            missing = (rgn == nodata).all(axis=0)
            out[:, missing] = np.nan
        return out


def band_choices(spec: SceneSpec) -> list[str]:
    """Labels of the bands (or files) a mapping can pick from, 1-based order."""
    if spec.multi_file:
        return [f"file {i}: {name}" for i, name in enumerate(spec.names, start=1)]
    with rasterio.open(spec.paths[0]) as ds:
        return [f"band {i}" + (f": {d}" if d else "") for i, d in enumerate(ds.descriptions, start=1)]


def band_count(spec: SceneSpec) -> int:
    """Bands of a one-file scene (0 when the file cannot be opened: the read reports why)."""
    try:
        with rasterio.open(spec.paths[0]) as ds:
            return int(ds.count)
    except rasterio.errors.RasterioError:
        return 0


def check_spec(spec: SceneSpec) -> None:
    """Open the scene once so mapping errors surface before a run.

    Raises:
        OcmError: Unreadable files or a bad mapping.
    """
    with open_spec(spec):
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
    spec = SceneSpec(key, label, tuple(str(p) for _, p in files), names, sensor=sensor,
                     description="Uploaded by you (kept in this session only).", kind="upload")
    return replace(spec, blue=default_blue(spec))


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
