"""Scene specifications (which files, which bands) and the reads the app makes from them.

A :class:`SceneSpec` names a scene's files, a sensor preset and/or a
:class:`~ocm_engine.io.mapping.BandMapping` (1-based band numbers in one multiband file, or
file positions for one file per band; Blue for display only). The engine's resolver decides
everything else; :func:`scene_layout` asks it once per spec (the app caches the answer).
Arrays are ``(bands, height, width)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ocm_app import config
from ocm_engine import Scene
from ocm_engine.errors import ResolutionError, SceneReadError, describe
from ocm_engine.io.mapping import BandMapping
from ocm_engine.io.readers import SceneSource
from ocm_engine.io.scene import SceneLayout, SceneReader, read_layout


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """One scene the app can read.

    Attributes:
        key: Stable identifier (cache key), e.g. ``"sample:oncloudn/chip_id_1"``.
        label: Name shown to users.
        paths: Absolute file paths (one multiband file, or one file per band).
        names: File names shown to users (uploads keep their original names here only).
        sensor: Sensor preset key, or ``None``.
        mapping: An explicit mapping (overrides the preset); ``None``: the engine's resolver decides.
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
    mapping: BandMapping | None = None
    nodata: float | None = None
    description: str = ""
    kind: str = "sample"
    labels: tuple[str, str] | None = None
    dataset: str = ""

    @property
    def multi_file(self) -> bool:
        """Whether the scene is one file per band."""
        return len(self.paths) > 1

    def with_mapping(self, sensor: str | None, mapping: BandMapping | None) -> SceneSpec:
        """A copy with another sensor preset / band mapping."""
        return replace(self, sensor=sensor, mapping=mapping)


def open_reader(spec: SceneSpec, resolution_m: float | None = None) -> SceneReader:
    """Open a scene with its mapping on its inference grid (the engine's :class:`SceneReader`).

    The engine applies every rule (its one band-mapping resolver, nodata, the resolution);
    its warnings are kept, typed, on the reader. Uploaded files are matched by the names
    users gave them (the saved copies have other names).

    Raises:
        OcmError: Unreadable files, a mapping that does not fit them, an impossible resolution.
    """
    return SceneReader(_source(spec), sensor=spec.sensor, bands=spec.mapping, nodata=spec.nodata,
                       resolution_m=resolution_m, names=spec.names)


def _source(spec: SceneSpec) -> SceneSource:
    return list(spec.paths) if spec.multi_file else spec.paths[0]


def scene_layout(spec: SceneSpec) -> SceneLayout:
    """The scene's grid, band labels, resolved mapping and warnings: one look at the files' headers.

    A mapping that does not fit comes back as ``layout.mapping_error`` (the labels stay usable).

    Raises:
        OcmError: Unreadable files, or band files that disagree on CRS or extent.
    """
    return read_layout(_source(spec), sensor=spec.sensor, bands=spec.mapping, nodata=spec.nodata,
                       names=spec.names)


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
    return read_with_layout(spec, resolution_m)[1]


def read_with_layout(spec: SceneSpec, resolution_m: float | None, *,
                     blue: bool = False) -> tuple[SceneLayout, Scene]:
    """:func:`read_inference` and the scene's layout from one opening of its files (Batch QA's one read).

    Args:
        spec: The scene and its mapping.
        resolution_m: The resolution asked for; ``None``: the engine's default.
        blue: Also read Blue (for a true-colour thumbnail drawn from the same read).

    Raises:
        ResolutionError: An impossible resolution, or a grid over the app's in-memory limit.
        OcmError: Unreadable files or a bad mapping.
    """
    with open_reader(spec, resolution_m) as reader:
        if reader.height * reader.width > config.MAX_INFERENCE_PIXELS:
            raise ResolutionError("too_large", reader.resolution_m, reader.source.resolution_m,
                                  size_px=(reader.width, reader.height), limit_px=config.MAX_INFERENCE_PIXELS)
        return reader.layout, reader.read(blue=blue)


def read_display(spec: SceneSpec, max_px: int = config.DISPLAY_MAX_PX) -> Scene:
    """Read the scene at display size (the engine's overview: Red, Green, NIR, Blue when mapped).

    Returns:
        The overview :class:`~ocm_engine.Scene`; draw it with :func:`ocm_app.render.true_colour`
        and :func:`ocm_app.render.false_colour` (the engine's one colour rule).

    Raises:
        OcmError: Unreadable files or a bad mapping.
    """
    with open_reader(spec) as reader:
        return reader.read_overview(max_px)


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
        raise SceneReadError("Upload", arrived="no file", expected="a multiband GeoTIFF or one file per band")
    names = tuple(n for n, _ in files)
    label = names[0] if len(names) == 1 else f"{len(names)} band files ({names[0]}, ...)"
    return SceneSpec(key, label, tuple(str(p) for _, p in files), names, sensor=sensor,
                     description="Uploaded by you (kept in this session only).", kind="upload")


def describe_error(err: BaseException, spec: SceneSpec | None = None) -> str:
    """The error in the app's words: the engine's problem and its hint for the app.

    The engine words each error's advice per front end (:meth:`~ocm_engine.errors.OcmError.hint`),
    so no command-line flag reaches the page. Saved upload paths (the app's temporary files)
    are replaced by the names the user uploaded.

    Args:
        err: The error (or a warning wrapped in an ``Exception``).
        spec: The scene whose uploaded files the message may name.
    """
    text = describe(err, "app")
    if spec is not None:
        for path, name in zip(spec.paths, spec.names, strict=False):
            text = text.replace(path, name).replace(Path(path).name, name)
    return text
