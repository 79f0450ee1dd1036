"""Data for the teaching notebooks: the shared scenes when present, else the built-in scene.

The notebooks in ``notebooks/`` read ``../shared/data`` beside the repository (or
``$OCM_SAMPLES_DIR``); on a machine without it they fall back to the app's built-in scene, so
every notebook runs top to bottom anywhere. Positions are 0-based along the ``band`` dimension,
as :func:`ocm_engine.xarray_io.predict_dataarray` takes them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocm_app import config
from ocm_engine.io.raster import read_raster, write_raster


@dataclass(frozen=True, slots=True)
class NotebookScene:
    """A scene a notebook opens with ``rioxarray.open_rasterio(scene.path)``.

    Attributes:
        path: The GeoTIFF.
        bands: 0-based Red, Green, NIR, Blue positions (Blue ``None`` when absent).
        label: What it is, for titles.
        labels: An expert label GeoTIFF on the same grid, or ``None``.
        shared: Whether it comes from ``../shared/data`` (else the built-in scene).
    """

    path: Path
    bands: tuple[int, int, int, int | None]
    label: str
    labels: Path | None = None
    shared: bool = True


def shared_dir() -> Path | None:
    """``$OCM_SAMPLES_DIR`` or ``../shared/data`` beside the repository, when it exists."""
    root = Path(os.environ.get(config.SAMPLES_ENV, "") or config.DEFAULT_SAMPLES_DIR)
    return root if root.is_dir() else None


def builtin() -> NotebookScene:
    """The app's built-in scene (real imagery + synthetic clouds, or the procedural fallback)."""
    from ocm_app.samples import builtin_scene

    spec = builtin_scene()
    three = spec.sensor == "generic_rgn"
    truth = Path(spec.labels[1]) if spec.labels else None
    return NotebookScene(Path(spec.paths[0]), (0, 1, 2, None) if three else (0, 1, 3, 2), spec.label, truth, False)


def s2_chip(name: str = "100301") -> NotebookScene:
    """A Sentinel-2 chip with real clouds (B02, B03, B04, B08, 10 m), else the built-in scene."""
    root = shared_dir()
    path = root / "scenes" / "s2_cloudy_chips" / f"{name}.tif" if root else None
    if path is None or not path.is_file():
        return builtin()
    return NotebookScene(path, (2, 1, 3, 0), f"Sentinel-2 chip {name} (B02, B03, B04, B08 at 10 m)")


def s2_chips() -> list[NotebookScene]:
    """Every Sentinel-2 cloudy chip (a time series stand-in), else the built-in scene once."""
    root = shared_dir()
    folder = root / "scenes" / "s2_cloudy_chips" if root else None
    if folder is None or not folder.is_dir():
        return [builtin()]
    return [s2_chip(p.stem) for p in sorted(folder.glob("*.tif"))]


def labelled_chip(chip: int = 1) -> NotebookScene:
    """An On Cloud N chip with its expert mask (0 clear, 1 cloud, 255 nodata), else the built-in scene.

    The chip's bands are one file each; they are stacked into one GeoTIFF in the temp folder
    (B04, B03, B08, B02 = Red, Green, NIR, Blue) so the notebook opens a single file.
    """
    root = shared_dir()
    folder = root / "labeled" / "oncloudn" / f"chip_id_{chip}" if root else None
    if folder is None or not (folder / "label.tif").is_file():
        return builtin()
    target = config.temp_root() / "notebooks" / f"oncloudn_chip_{chip}.tif"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        names = ("B04", "B03", "B08", "B02")
        bands = [read_raster(folder / f"{name}.tif") for name in names]
        info = bands[0][0]
        write_raster(target, np.concatenate([data[:1] for _, data in bands]), transform=info.transform,
                     crs=info.crs, nodata=info.nodata, descriptions=names)
    return NotebookScene(target, (0, 1, 2, 3), f"On Cloud N chip {chip} (Sentinel-2 L2A, 10 m)",
                         folder / "label.tif")
