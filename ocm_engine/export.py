"""Writers: class GeoTIFF (with colour table and statistics), probability GeoTIFF, PNG, JSON.

Every writer is atomic: it writes ``<name>.<host>-<pid>-<token>.partial`` beside the
target and moves it into place only when complete, so a failure never leaves a
half-written file under a final name.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import secrets
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.crs import CRS
from rasterio.io import DatasetWriter
from rasterio.transform import Affine

from ocm_engine import metrics
from ocm_engine.constants import CLASS_COLOURS, CLASS_LABELS, CLASS_NAMES, NUM_CLASSES, OUTPUT_NODATA
from ocm_engine.errors import OutputExistsError
from ocm_engine.types import BoolArray, UInt8Array

CLASS_BAND_DESCRIPTION = "cloud_mask: 0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow"


@dataclass(frozen=True, slots=True)
class GridInfo:
    """Georeferencing of an output grid (``crs`` may be ``None``)."""

    width: int
    height: int
    transform: Affine
    crs: CRS | None


def class_statistics(classes: UInt8Array, valid: BoolArray) -> dict[str, float | int]:
    """Flat statistics of a class map (see :meth:`ocm_engine.metrics.ClassStatistics.as_dict`)."""
    return metrics.class_statistics(classes, valid).as_dict()


def check_writable(path: Path, overwrite: bool) -> None:
    """Refuse to replace an existing output unless ``overwrite``.

    Raises:
        OutputExistsError: If ``path`` exists and ``overwrite`` is False.
    """
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"{path} already exists. Pass overwrite=True (CLI: --overwrite) to replace it, "
            "or choose another output folder."
        )


_HOST = re.sub(r"[^A-Za-z0-9]+", "-", socket.gethostname())[:32] or "host"


@contextlib.contextmanager
def atomic_path(path: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary partial path; move it to ``path`` only when the block succeeds.

    The partial name is unique to this host, process and call
    (``<name>.<host>-<pid>-<token>.partial``), so concurrent writers (app sessions,
    parallel batches) never share one. Without ``overwrite`` the final move is a hard link,
    which fails instead of replacing a file another writer created meanwhile. Partials
    left by killed processes of this host are removed after a successful write.

    Raises:
        OutputExistsError: If ``path`` exists (before or at the final move) and
            ``overwrite`` is False.
    """
    check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        yield partial
        _commit(partial, path, overwrite)
    finally:
        for leftover in (partial, partial.with_name(partial.name + ".aux.xml")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    _remove_stale_partials(path)


def _commit(partial: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(partial, path)
        return
    try:
        os.link(partial, path)  # atomic and never clobbers
    except FileExistsError as err:
        raise OutputExistsError(
            f"{path} already exists (another run wrote it meanwhile). Pass overwrite=True "
            "(CLI: --overwrite) to replace it, or choose another output folder."
        ) from err
    except OSError:  # no hard links on this file system: check, then rename
        check_writable(path, overwrite)
        os.replace(partial, path)


def _remove_stale_partials(path: Path) -> None:
    """Delete ``path``'s partials left by dead processes of this host (a killed batch)."""
    pattern = re.compile(re.escape(f"{path.name}.{_HOST}-") + r"(\d+)-[0-9a-f]+\.partial(\.aux\.xml)?")
    for candidate in path.parent.glob(f"{glob.escape(path.name)}.*.partial*"):
        match = pattern.fullmatch(candidate.name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            candidate.unlink()


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def class_profile(grid: GridInfo) -> dict[str, Any]:
    """Rasterio profile of the class GeoTIFF (uint8, LZW, tiled, nodata 255)."""
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": "uint8",
        "nodata": OUTPUT_NODATA,
        "compress": "lzw",
        "transform": grid.transform,
        "crs": grid.crs,
    }
    if grid.width >= 256 and grid.height >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    return profile


def probability_profile(grid: GridInfo) -> dict[str, Any]:
    """Rasterio profile of the 4-band float32 probability GeoTIFF (nodata NaN)."""
    profile = class_profile(grid)
    profile.update(count=NUM_CLASSES, dtype="float32", nodata=float("nan"), predictor=3)
    return profile


def finish_class_dataset(dst: DatasetWriter, tags: Mapping[str, str]) -> None:
    """Add the colour table, band description and tags to an open class dataset."""
    colours = {i: tuple(c) for i, c in enumerate(CLASS_COLOURS)}
    colours[OUTPUT_NODATA] = (0, 0, 0, 0)
    dst.write_colormap(1, colours)
    dst.set_band_description(1, CLASS_BAND_DESCRIPTION)
    dst.update_tags(**{k: str(v) for k, v in tags.items()})
    dst.update_tags(1, **{f"class_{i}": name for i, name in enumerate(CLASS_NAMES)})


def stats_tags(stats: metrics.ClassStatistics, extra: Mapping[str, object]) -> dict[str, str]:
    """Tags for the class GeoTIFF: statistics (2 decimals) plus run facts (GeoTIFF tags are text)."""
    tags = {k: (f"{v:d}" if isinstance(v, int) else f"{v:.2f}") for k, v in stats.as_dict().items()}
    tags["classes"] = ",".join(f"{i}={n}" for i, n in enumerate(CLASS_NAMES))
    tags.update({k: str(v) for k, v in extra.items()})
    return tags


def write_class_geotiff(
    path: Path,
    classes: UInt8Array,
    valid: BoolArray,
    grid: GridInfo,
    extra_tags: Mapping[str, object] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write the class map as a GeoTIFF QGIS shows in colour.

    Args:
        path: Target file.
        classes: ``(height, width)`` uint8 classes 0..3.
        valid: ``(height, width)`` bool; False pixels are written as nodata (255).
        grid: Georeferencing.
        extra_tags: Extra metadata tags (model, resolution...).
        overwrite: Replace an existing file.

    Returns:
        The path written.
    """
    data = np.where(valid, classes, OUTPUT_NODATA).astype(np.uint8)
    tags = stats_tags(metrics.class_statistics(classes, valid), extra_tags or {})
    with atomic_path(path, overwrite) as partial:
        with rasterio.open(partial, "w", **class_profile(grid)) as dst:
            dst.write(data, 1)
            finish_class_dataset(dst, tags)
    return path


def write_probability_geotiff(
    path: Path,
    probabilities: npt.NDArray[np.float32],
    valid: BoolArray,
    grid: GridInfo,
    *,
    overwrite: bool = False,
) -> Path:
    """Write per-class probabilities ``(4, height, width)`` as a 4-band float32 GeoTIFF."""
    data = np.where(valid[None], probabilities, np.float32(np.nan)).astype(np.float32)
    with atomic_path(path, overwrite) as partial:
        with rasterio.open(partial, "w", **probability_profile(grid)) as dst:
            dst.write(data)
            for i, name in enumerate(CLASS_NAMES, start=1):
                dst.set_band_description(i, f"probability_{name}")
    return path


def colourise(classes: UInt8Array, valid: BoolArray) -> npt.NDArray[np.uint8]:
    """RGBA image ``(height, width, 4)`` of a class map; nodata transparent."""
    lut = np.array(CLASS_COLOURS, dtype=np.uint8)
    rgba = lut[np.clip(classes, 0, NUM_CLASSES - 1)]
    rgba[~valid] = 0
    return rgba


def write_png(
    path: Path,
    classes: UInt8Array,
    valid: BoolArray,
    *,
    rgb: npt.NDArray[np.uint8] | None = None,
    title: str = "",
    overwrite: bool = False,
) -> Path:
    """Write a quick-look PNG a person can read alone: image and mask side by side, legend, cloud %.

    Args:
        path: Target file.
        classes: ``(height, width)`` uint8 classes 0..3.
        valid: ``(height, width)`` bool; nodata is drawn light grey.
        rgb: Optional true-colour rendering ``(h, w, 3)`` or ``(h, w, 4)`` uint8 of the same scene
            (any size: it is resized to the mask's); without it only the mask is drawn.
        title: A first line (e.g. the scene's name).
        overwrite: Replace an existing file.

    Returns:
        The path written.
    """
    with atomic_path(path, overwrite) as partial:
        quicklook_image(classes, valid, rgb=rgb, title=title).save(partial, format="PNG")
    return path


def quicklook_image(
    classes: UInt8Array, valid: BoolArray, *, rgb: npt.NDArray[np.uint8] | None = None, title: str = ""
) -> Any:
    """The quick-look of :func:`write_png` as a PIL RGB image."""
    from PIL import Image, ImageDraw, ImageFont

    height, width = classes.shape
    scale = min(1.0, 512 / max(height, width))
    if max(height, width) < 256:
        scale = 256 / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    mask = colourise(classes, valid)
    mask[~valid] = (225, 225, 225, 255)
    panels = [("Mask", Image.fromarray(mask, mode="RGBA").convert("RGB").resize(size, Image.Resampling.NEAREST))]
    if rgb is not None:
        image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]), mode="RGB")
        panels.insert(0, ("Image", image.resize(size, Image.Resampling.BILINEAR)))
    font, small = ImageFont.load_default(size=14), ImageFont.load_default(size=12)
    stats = metrics.class_statistics(classes, valid)
    legend = [(f"{label} {stats.percentages[name]:.1f} %", colour[:3])
              for name, label, colour in zip(CLASS_NAMES, CLASS_LABELS, CLASS_COLOURS, strict=True)]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    legend_px = sum(33 + int(probe.textlength(text, font=small)) for text, _ in legend)
    gap, head, foot = 8, 44, 30
    canvas = Image.new("RGB", (max(gap + len(panels) * (size[0] + gap), legend_px + gap),
                               head + size[1] + foot), "white")
    draw = ImageDraw.Draw(canvas)
    heading = title or "Cloud and shadow mask"
    while len(heading) > 4 and draw.textlength(heading, font=font) > canvas.width - 2 * gap:
        heading = heading[:-2].rstrip() + "…"
        heading = heading.replace("……", "…")
    draw.text((gap, 4), heading, fill="black", font=font)
    draw.text((gap, 23), f"Cloud {stats.cloud_percent:.1f} % of valid pixels (thick + thin) · "
              f"nodata {stats.nodata_percent:.1f} %", fill="black", font=small)
    for i, (caption, panel) in enumerate(panels):
        x = gap + i * (size[0] + gap)
        canvas.paste(panel, (x, head))
        draw.text((x + 4, head + 3), caption, fill="white", font=small, stroke_width=2, stroke_fill="black")
    x, y = gap, head + size[1] + 9
    for text, colour in legend:
        draw.rectangle((x, y, x + 14, y + 12), fill=tuple(colour), outline=(90, 90, 90))
        draw.text((x + 19, y - 1), text, fill="black", font=small)
        x += 33 + int(draw.textlength(text, font=small))
    return canvas


def write_json(path: Path, payload: Mapping[str, Any], *, overwrite: bool = False) -> Path:
    """Write a JSON document atomically."""
    with atomic_path(path, overwrite) as partial:
        partial.write_text(json.dumps(payload, indent=2, sort_keys=True))
    return path
