"""Scene lists for batches: paths, globs, CSV files and STAC items → :class:`BatchScene`.

Every scene gets a deterministic, unique ``scene_id`` that is also its output file-name
stem (``<scene_id>_ocm.tif``). It is the input's own stem (or the STAC item id, or the
CSV ``id``); when two scenes of one list share a stem (``a/scene.tif`` and
``b/scene.tif``), each of them gets ``-`` plus the first 8 hex digits of the SHA-1 of
its resolved href appended, so the same list always maps to the same names.

Remote hrefs (``http(s)://``, ``s3://``, ``gs://``) are turned into GDAL virtual paths
(``/vsicurl/``, ``/vsis3/``, ``/vsigs/``); they are only opened when a worker reads them.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ocm_engine.constants import RASTER_SUFFIXES
from ocm_engine.errors import Hints, SceneListError
from ocm_engine.options import ReadOptions
from ocm_engine.pipeline import scene_stem

HREF_COLUMNS = ("href", "path", "url", "file")
BAND_COLUMNS = ("red", "green", "nir")
#: Per-band STAC asset keys tried, in order, when none are given (Red, Green, NIR).
DEFAULT_STAC_BAND_ASSETS: tuple[tuple[str, ...], ...] = (
    ("red", "green", "nir"),
    ("red", "green", "nir08"),  # Landsat Collection 2
    ("B04", "B03", "B08"),  # Sentinel-2 (Earth Search v0, Planetary Computer)
)
_REMOTE = {"http://": "/vsicurl/", "https://": "/vsicurl/", "s3://": "/vsis3/", "gs://": "/vsigs/"}
_GLOB_CHARS = re.compile(r"[*?\[]")

BandMap = tuple[int | None, int | None, int | None]


@dataclass(frozen=True, slots=True)
class BatchScene:
    """One scene of a batch.

    Attributes:
        scene_id: Unique, deterministic id; also the output file-name stem.
        inputs: One raster path/GDAL path, or one file per band.
        bands: 1-based Red, Green, NIR positions overriding the batch's mapping (STAC
            per-band assets use ``(1, 2, 3)``: the files are in R, G, NIR order).
        sensor: Sensor preset overriding the batch's (CSV ``sensor`` column).
    """

    scene_id: str
    inputs: tuple[str, ...]
    bands: BandMap | None = None
    sensor: str | None = None

    @property
    def source(self) -> str | list[str]:
        """What :func:`ocm_engine.predict_file` takes: one path, or a list of band files."""
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    def read_options(self, batch: ReadOptions) -> ReadOptions:
        """The batch's read options with this scene's own sensor and bands, where it has them."""
        return batch.replace(sensor=self.sensor, bands=self.bands)


def gdal_path(href: str, base_dir: Path | None = None) -> str:
    """A path rasterio can open for an href: local (made absolute) or a GDAL ``/vsi*`` path.

    Args:
        href: A local path, ``file://`` URL, ``http(s)://``, ``s3://`` or ``gs://`` URL, or a
            ``/vsi...`` path.
        base_dir: Folder that relative local paths are relative to (the list file's folder).

    Returns:
        The path to open.
    """
    for prefix, vsi in _REMOTE.items():
        if href.startswith(prefix):
            return vsi + (href if vsi == "/vsicurl/" else href[len(prefix):])
    if href.startswith("/vsi"):
        return href
    if href.startswith("file://"):
        href = href[len("file://"):]
    path = Path(href).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return str(path.resolve())


def _band_files(folder: Path) -> tuple[str, ...]:
    files = tuple(sorted(str(p.resolve()) for p in folder.iterdir() if p.suffix.lower() in RASTER_SUFFIXES))
    if not files:
        raise SceneListError(
            f"Folder {folder}", arrived="no raster files",
            expected=f"single-band raster files ({', '.join(RASTER_SUFFIXES)})",
            hints=Hints.same("A folder is one scene of single-band files; for a folder of scenes give a glob "
                             "such as 'folder/*.tif'."),
        )
    return files


def _stem_of(inputs: Sequence[str]) -> str:
    names = [re.sub(r"[?#].*$", "", i) for i in inputs]
    return scene_stem(names[0] if len(names) == 1 else names)


def _sanitise(text: str) -> str:
    cleaned = re.sub(r"[^\w.\-]+", "_", text).strip("._")
    return cleaned or "scene"


def _local_item(raw: str | Path) -> list[BatchScene]:
    text = str(raw)
    if text.startswith(tuple(_REMOTE)) or text.startswith("/vsi"):
        href = gdal_path(text)
        return [BatchScene(_stem_of([href]), (href,))]
    path = Path(text).expanduser()
    if path.suffix.lower() == ".csv" and path.is_file():
        return read_scene_csv(path)
    if path.suffix.lower() in (".json", ".geojson") and path.is_file():
        return read_stac_items(path)
    if path.is_dir():
        files = _band_files(path)
        return [BatchScene(_stem_of(files), files)]
    if _GLOB_CHARS.search(text) and not path.exists():
        matches = sorted(glob.glob(str(path), recursive=True))
        if not matches:
            raise SceneListError(f"Glob {text!r}", arrived="no matching files", expected="at least one file",
                                 hints=Hints.same("Check the pattern and folder."))
        return [s for m in matches for s in _local_item(m) if Path(m).is_dir() or
                Path(m).suffix.lower() in RASTER_SUFFIXES]
    # A missing file is kept: the worker reports it as that scene's failure.
    return [BatchScene(_stem_of([str(path)]), (str(path.resolve()),))]


def read_scene_csv(path: str | Path) -> list[BatchScene]:
    """Read a CSV scene list.

    Columns (case-insensitive): one of ``href``, ``path``, ``url``, ``file`` (a raster or a
    folder of band files), or ``red``, ``green`` and optionally ``nir`` (one file per band);
    optional ``id`` (output stem) and ``sensor`` (preset for that row). Relative paths are
    relative to the CSV's folder.

    Args:
        path: The CSV file.

    Returns:
        The scenes, in file order (ids not yet made unique).

    Raises:
        SceneListError: If the file has no usable column or a row lacks an href.
    """
    csv_path = Path(path)
    base = csv_path.parent
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        href_col = next((columns[c] for c in HREF_COLUMNS if c in columns), None)
        band_cols = [columns[c] for c in BAND_COLUMNS if c in columns]
        if href_col is None and len(band_cols) < 2:
            raise SceneListError(
                f"Columns of {csv_path}", arrived=sorted(columns),
                expected=(f"one of {', '.join(HREF_COLUMNS)} (one raster or band folder per row), or red, "
                          "green[, nir] (one file per band)"),
            )
        scenes: list[BatchScene] = []
        for line, row in enumerate(reader, start=2):
            sensor = (row.get(columns.get("sensor", ""), "") or "").strip() or None
            ident = (row.get(columns.get("id", ""), "") or "").strip()
            if href_col is not None and (row.get(href_col) or "").strip():
                found = _local_item(gdal_path(row[href_col].strip(), base))
            elif band_cols and all((row.get(c) or "").strip() for c in band_cols):
                files = tuple(gdal_path(row[c].strip(), base) for c in band_cols)
                bands: BandMap = (1, 2, 3 if len(files) == 3 else None)
                found = [BatchScene(_stem_of(files), files, bands)]
            else:
                wanted = [*([f"a value in {href_col!r}"] if href_col else []),
                          *([f"a file in each of {band_cols}"] if band_cols else [])]
                raise SceneListError(f"Line {line} of {csv_path}", arrived="no href",
                                     expected=", or ".join(wanted))
            for scene in found:
                scenes.append(replace(scene, scene_id=_sanitise(ident) if ident else scene.scene_id,
                                      sensor=sensor))
    return scenes


def _stac_items(data: Any, source: str) -> list[dict[str, Any]]:
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict) and data.get("type") == "FeatureCollection":
        items = data.get("features", [])
    elif isinstance(data, dict) and "assets" in data:
        items = [data]
    else:
        raise SceneListError(
            f"STAC items in {source}", arrived=f"a JSON {type(data).__name__} without 'features' or 'assets'",
            expected="a STAC Item, ItemCollection or list of Items",
        )
    lacking = [i for i in items if not (isinstance(i, dict) and isinstance(i.get("assets"), dict))]
    if lacking:
        raise SceneListError(f"STAC items in {source}", arrived=f"{len(lacking)} item(s) without an 'assets' object",
                             expected="an 'assets' object in every Item")
    return items


def _pick_assets(item: dict[str, Any], keys: Sequence[str] | None, source: str) -> tuple[str, ...]:
    assets: dict[str, Any] = item["assets"]
    candidates = [tuple(keys)] if keys else list(DEFAULT_STAC_BAND_ASSETS)
    for combo in candidates:
        if all(k in assets for k in combo):
            return combo
    raise SceneListError(
        f"Assets of STAC item {item.get('id', '?')!r} in {source}", arrived=sorted(assets),
        expected=(f"the assets {list(keys)}" if keys else
                  f"one of the band sets {', '.join('/'.join(c) for c in DEFAULT_STAC_BAND_ASSETS)}"),
        hints=Hints(python="Pick assets with stac_assets=('KEY',) for one multiband asset or "
                           "('RED','GREEN','NIR') for one asset per band.",
                    cli="Pick assets with --stac-assets KEY for one multiband asset or RED,GREEN,NIR for one "
                        "asset per band.",
                    app="Pick the item's assets: one multiband asset, or one asset per band (Red, Green, NIR)."),
    )


def read_stac_items(
    source: str | Path | dict[str, Any] | list[dict[str, Any]],
    assets: Sequence[str] | None = None,
) -> list[BatchScene]:
    """Turn STAC Items into scenes.

    Args:
        source: A JSON file (ItemCollection, Item or list of Items) or the parsed JSON.
        assets: One asset key (a multiband raster) or 2-3 keys in Red, Green, NIR order
            (one raster per band). Default: the first of :data:`DEFAULT_STAC_BAND_ASSETS`
            that every item has.

    Returns:
        One scene per item, its id the item id; hrefs made absolute or ``/vsi*``.

    Raises:
        SceneListError: Not STAC, or an item lacks the assets.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise SceneListError(f"STAC items file {path}", arrived=f"a read error ({err})",
                                 expected="a readable JSON file") from err
        base, label = path.parent, str(path)
    else:
        data, base, label = source, None, "the data given"
    if assets is not None and not 1 <= len(assets) <= 3:
        raise SceneListError("STAC asset keys", arrived=list(assets),
                             expected="1 key (one multiband asset) or 2-3 keys (Red, Green[, NIR])")
    scenes = []
    for item in _stac_items(data, label):
        keys = _pick_assets(item, assets, label)
        hrefs = tuple(gdal_path(str(item["assets"][k]["href"]), base) for k in keys)
        bands: BandMap | None = None if len(hrefs) == 1 else (1, 2, 3 if len(hrefs) == 3 else None)
        ident = _sanitise(str(item["id"])) if item.get("id") else _stem_of(hrefs)
        scenes.append(BatchScene(ident, hrefs, bands))
    return scenes


def _unique(scenes: list[BatchScene]) -> list[BatchScene]:
    seen: dict[tuple[str, ...], BatchScene] = {}
    for scene in scenes:
        seen.setdefault(scene.inputs, scene)  # the same inputs twice run once
    kept = list(seen.values())
    counts: dict[str, int] = {}
    for scene in kept:
        counts[scene.scene_id.lower()] = counts.get(scene.scene_id.lower(), 0) + 1
    out = []
    for scene in kept:
        if counts[scene.scene_id.lower()] > 1:
            digest = hashlib.sha1("\n".join(scene.inputs).encode(), usedforsecurity=False).hexdigest()[:8]
            scene = replace(scene, scene_id=f"{scene.scene_id}-{digest}")
        out.append(scene)
    return out


def resolve_scenes(
    scenes: str | Path | BatchScene | Iterable[str | Path | BatchScene],
    *,
    stac_assets: Sequence[str] | None = None,
) -> list[BatchScene]:
    """Expand a scene list into unique :class:`BatchScene` objects.

    Args:
        scenes: A raster path, folder of band files, glob, CSV file, STAC JSON file, remote
            href, a :class:`BatchScene`, or an iterable of any of these.
        stac_assets: Asset key(s) for STAC items (see :func:`read_stac_items`).

    Returns:
        Scenes in list order; duplicates (same inputs) dropped; colliding ids suffixed with
        a hash of the href.

    Raises:
        SceneListError: An unusable list file, an empty glob, or no scenes at all.
    """
    items: Iterable[str | Path | BatchScene] = (
        [scenes] if isinstance(scenes, str | Path | BatchScene) else scenes
    )
    found: list[BatchScene] = []
    for item in items:
        if isinstance(item, BatchScene):
            found.append(item)
        elif str(item).lower().endswith((".json", ".geojson")) and Path(item).is_file():
            found.extend(read_stac_items(item, stac_assets))
        else:
            found.extend(_local_item(item))
    if not found:
        raise SceneListError("Scene list", arrived="no scenes",
                             expected="raster paths, band-file folders, a glob, a CSV or STAC items")
    return _unique(found)
