"""Generator of the bad-input corpus: every kind of broken or unusual file users feed the tool.

Nothing here is committed as a binary: :func:`build_corpus` writes the files into a folder
(a pytest ``tmp_path``) at test time. Each :class:`Case` says how to call the engine on its
files and what must happen: a specific ``ocm_engine.errors`` class, or a correct result.

Run ``python3 tests/reliability/corpus.py OUT_DIR`` to write the corpus for manual poking.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import from_origin

from ocm_engine import errors

UTM = "EPSG:32633"
OK = "ok"


@dataclass(frozen=True, slots=True)
class Case:
    """One corpus entry.

    Attributes:
        name: Case id (also the pytest id).
        build: Writes the input file(s) into a folder; returns the path, or a list of paths
            (one file per band).
        expect: ``OK`` for a correct result, else the ``ocm_engine.errors`` class expected.
        kwargs: Keyword arguments for ``predict_file`` / ``open_scene``.
        cli: Extra CLI arguments equivalent to ``kwargs``.
        cli_expect: Overrides ``expect`` for the CLI (argparse checks some values itself).
        warns: Warning category the API call must emit (``None``: none expected).
    """

    name: str
    build: Callable[[Path], Path | list[Path]]
    expect: type[Exception] | str
    kwargs: dict[str, Any] = field(default_factory=dict)
    cli: tuple[str, ...] = ()
    cli_expect: type[Exception] | str | None = None
    warns: type[Warning] | None = None


def scene(bands: int = 4, height: int = 64, width: int = 64, dtype: str = "uint16",
          seed: int = 0) -> np.ndarray:
    """A smooth random scene ``(bands, height, width)`` with one bright blob."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    blob = np.exp(-(((xx - width * 0.4) ** 2 + (yy - height * 0.4) ** 2) / (2 * (width / 6 + 1) ** 2)))
    img = np.stack([0.1 + 0.6 * blob + 0.02 * rng.random((height, width)) for _ in range(bands)])
    kind = np.dtype(dtype).kind
    if kind == "f":
        return img.astype(dtype)
    if kind == "c":
        return (img + 1j * img).astype(dtype)
    if dtype == "int16":
        return (img * 20000 - 4000).astype(dtype)  # negative values included
    scale = 255 if dtype == "uint8" else 10000
    return (img * scale + 1).astype(dtype)


def write_tif(path: Path, array: np.ndarray, *, nodata: float | None = 0, crs: str | None = UTM,
              res: float = 10.0, origin: tuple[float, float] = (500000.0, 4000000.0),
              **profile: Any) -> Path:
    """Write ``array`` ``(bands, height, width)`` as a GeoTIFF; returns ``path``."""
    options: dict[str, Any] = dict(
        driver="GTiff", width=array.shape[2], height=array.shape[1], count=array.shape[0],
        dtype=str(array.dtype), nodata=nodata, transform=from_origin(*origin, res, res),
    )
    if crs:
        options["crs"] = crs
    options.update(profile)
    with rasterio.open(path, "w", **options) as dst:
        dst.write(array)
    return path


def _valid(folder: Path, name: str = "valid.tif", **kw: Any) -> Path:
    return write_tif(folder / name, scene(**kw))


def _truncated(folder: Path) -> Path:
    data = _valid(folder, "full.tif", height=128, width=128).read_bytes()
    path = folder / "truncated.tif"
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_header(folder: Path) -> Path:
    path = folder / "truncated_header.tif"
    path.write_bytes(_valid(folder, "full.tif").read_bytes()[:100])
    return path


def _corrupt_pixels(folder: Path) -> Path:
    """Deflate-compressed strips whose bytes are garbage: the header is fine, decoding fails."""
    src = write_tif(folder / "deflate.tif", scene(height=128, width=128), compress="deflate",
                    tiled=True, blockxsize=64, blockysize=64)
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(1)
    with rasterio.open(src) as ds:
        offsets = [int(ds.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=b)) for b in range(1, ds.count + 1)]
    for off in offsets:
        data[off : off + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    path = folder / "corrupt_pixels.tif"
    path.write_bytes(bytes(data))
    return path


def _corrupt_header(folder: Path) -> Path:
    data = bytearray(_valid(folder, "full.tif").read_bytes())
    data[8:64] = os.urandom(56)
    path = folder / "corrupt_header.tif"
    path.write_bytes(bytes(data))
    return path


def _bytes_file(name: str, content: bytes) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content)
        return path

    return build


def _image(name: str, fmt: str, mode: str = "RGB") -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        from PIL import Image

        rgb = np.moveaxis(scene(3, 64, 64, "uint8"), 0, -1)
        path = folder / name
        Image.fromarray(rgb if mode == "RGB" else rgb[..., 0], mode=mode).save(path, format=fmt)
        return path

    return build


def _tif(name: str, array_fn: Callable[[], np.ndarray], **kw: Any) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        return write_tif(folder / name, array_fn(), **kw)

    return build


def _huge(folder: Path) -> Path:
    path = folder / "huge_declared.tif"
    with rasterio.open(path, "w", driver="GTiff", width=60000, height=60000, count=4, dtype="uint16",
                       sparse_ok=True, tiled=True, blockxsize=1024, blockysize=1024,
                       transform=from_origin(0, 0, 10, 10), crs=UTM):
        pass
    return path


def _huge_header(folder: Path) -> Path:
    """A small strip TIFF whose ImageWidth/ImageLength tags were edited to 2**31 px."""
    src = write_tif(folder / "small.tif", scene(4, 32, 32))
    data = bytearray(src.read_bytes())
    count = int.from_bytes(data[8:10], "little") if data[:2] == b"II" else 0
    for i in range(count):
        entry = 10 + 12 * i
        tag = int.from_bytes(data[entry : entry + 2], "little")
        if tag in (256, 257):  # ImageWidth, ImageLength
            data[entry + 2 : entry + 4] = (4).to_bytes(2, "little")  # LONG
            data[entry + 8 : entry + 12] = (2**31).to_bytes(4, "little")
    path = folder / "huge_header.tif"
    path.write_bytes(bytes(data))
    return path


def _band_files(kind: str) -> Callable[[Path], list[Path]]:
    def build(folder: Path) -> list[Path]:
        sub = folder / f"bands_{kind}"
        sub.mkdir()
        data = scene(3, 64, 64)
        paths = []
        for i, band in enumerate(("B04", "B03", "B08")):
            crs, res, shape = UTM, 10.0, (64, 64)
            if kind == "crs" and band == "B08":
                crs = "EPSG:32634"
            if kind == "size" and band == "B08":
                shape = (40, 40)
            if kind == "res" and band == "B08":
                res, shape = 20.0, (32, 32)
            arr = data[i : i + 1, : shape[0], : shape[1]]
            paths.append(write_tif(sub / f"T33{kind}_{band}.tif", arr, crs=crs, res=res))
        return paths

    return build


def _nan_partial() -> np.ndarray:
    a = scene(4, 64, 64, "float32")
    a[:, :20, :] = np.nan
    a[1, 40:, 40:] = np.nan  # one band NaN: pixel is nodata
    return a


def _nodata_partial() -> np.ndarray:
    a = scene(4, 64, 64, "int16")
    a[:, :, :16] = -9999
    return a


def _extreme() -> np.ndarray:
    a = scene(4, 64, 64, "float32") * np.float32(3e38)
    return a


CASES: list[Case] = [
    # unreadable files
    Case("zero_byte", _bytes_file("empty.tif", b""), errors.SceneReadError),
    Case("text_as_tif", _bytes_file("notes.tif", b"not a raster\n" * 50), errors.SceneReadError),
    Case("random_bytes", _bytes_file("random.tif", np.random.default_rng(0).bytes(4096)),
         errors.SceneReadError),
    Case("truncated_half", _truncated, errors.SceneReadError),
    Case("truncated_header", _truncated_header, errors.SceneReadError),
    Case("corrupt_header", _corrupt_header, errors.SceneReadError),
    Case("corrupt_pixels", _corrupt_pixels, errors.SceneReadError),
    Case("missing_file", lambda f: f / "does_not_exist.tif", errors.SceneReadError),
    Case("directory_as_file", lambda f: f, errors.SceneReadError),
    Case("huge_declared_size", _huge, errors.SceneReadError),
    Case("huge_header_size", _huge_header, errors.SceneReadError),
    # no georeferencing: unusual, not broken
    Case("png_no_georef", _image("photo.png", "PNG"), OK, warns=errors.MissingCrsWarning),
    Case("jpeg_no_georef", _image("snapshot.jpg", "JPEG"), OK, warns=errors.MissingCrsWarning),
    Case("tif_no_crs", _tif("nocrs.tif", scene, crs=None), OK, warns=errors.MissingCrsWarning),
    Case("grey_png", _image("grey.png", "PNG", "L"), errors.BandMismatchError),
    # band counts and mappings
    Case("one_band", _tif("one.tif", lambda: scene(1)), errors.BandMismatchError),
    Case("two_bands", _tif("two.tif", lambda: scene(2)), errors.BandMismatchError),
    Case("preset_needs_more_bands", _tif("four.tif", scene), errors.BandMismatchError,
         {"sensor": "sentinel2_l2a"}, ("--sensor", "sentinel2_l2a")),
    Case("bands_out_of_range", _tif("four.tif", scene), errors.BandMismatchError,
         {"bands": (5, 6, 7)}, ("--bands", "5,6,7")),
    Case("bands_zero", _tif("four.tif", scene), errors.BandMismatchError,
         {"bands": (0, 1, 2)}, ("--bands", "0,1,2")),
    Case("three_bands_rgn", _tif("three.tif", lambda: scene(3)), OK),
    Case("many_bands", _tif("many.tif", lambda: scene(13)), OK, {"sensor": "sentinel2_l2a"},
         ("--sensor", "sentinel2_l2a")),
    # content
    Case("all_nodata", _tif("nodata.tif", lambda: np.zeros((4, 64, 64), np.uint16)), errors.NoValidDataError),
    Case("all_nan", _tif("nan.tif", lambda: np.full((4, 64, 64), np.nan, np.float32), nodata=None),
         errors.NoValidDataError),
    Case("partial_nan", _tif("pnan.tif", _nan_partial, nodata=None), OK),
    Case("partial_nodata_int16", _tif("pnd.tif", _nodata_partial, nodata=-9999), OK),
    Case("constant", _tif("constant.tif", lambda: np.full((4, 64, 64), 1234, np.uint16)), OK),
    Case("extreme_values_f32", _tif("extreme.tif", _extreme, nodata=None), OK),
    # sizes
    Case("size_1x1", _tif("one_px.tif", lambda: scene(4, 1, 1)), errors.ImageTooSmallError),
    Case("size_31x31", _tif("small.tif", lambda: scene(4, 31, 31)), errors.ImageTooSmallError),
    Case("size_32x32", _tif("min.tif", lambda: scene(4, 32, 32)), OK),
    Case("size_31x300", _tif("thin.tif", lambda: scene(4, 31, 300)), errors.ImageTooSmallError),
    # dtypes
    Case("int16_signed", _tif("int16.tif", lambda: scene(4, dtype="int16"), nodata=None), OK),
    Case("float64", _tif("float64.tif", lambda: scene(4, dtype="float64"), nodata=None), OK),
    Case("uint8", _tif("uint8.tif", lambda: scene(4, dtype="uint8")), OK),
    Case("int32", _tif("int32.tif", lambda: scene(4, dtype="int32")), OK),
    Case("complex64", _tif("complex.tif", lambda: scene(4, dtype="complex64"), nodata=None),
         errors.SceneReadError),
    # band files
    Case("band_files_ok", _band_files("ok"), OK, {"sensor": "sentinel2_l2a_b08"},
         ("--sensor", "sentinel2_l2a_b08")),
    Case("band_files_other_crs", _band_files("crs"), errors.BandMismatchError,
         {"sensor": "sentinel2_l2a_b08"}, ("--sensor", "sentinel2_l2a_b08")),
    Case("band_files_other_size", _band_files("size"), errors.BandMismatchError,
         {"sensor": "sentinel2_l2a_b08"}, ("--sensor", "sentinel2_l2a_b08")),
    Case("band_files_other_res", _band_files("res"), OK, {"sensor": "sentinel2_l2a_b08"},
         ("--sensor", "sentinel2_l2a_b08")),
    Case("band_files_no_mapping", _band_files("ok"), errors.BandMismatchError,
         {"sensor": "planetscope_4band"}, ("--sensor", "planetscope_4band")),
    # names and options
    Case("unknown_sensor", _tif("four.tif", scene), errors.UnknownSensorError,
         {"sensor": "sentinel99"}, ("--sensor", "sentinel99")),
    Case("resolution_negative", _tif("four.tif", scene), errors.ResolutionError,
         {"resolution_m": -10.0}, ("--resolution=-10",)),
    Case("resolution_zero", _tif("four.tif", scene), errors.ResolutionError,
         {"resolution_m": 0.0}, ("--resolution", "0")),
    Case("resolution_nan", _tif("four.tif", scene), errors.ResolutionError,
         {"resolution_m": float("nan")}, ("--resolution", "nan")),
    Case("resolution_inf", _tif("four.tif", scene), errors.ResolutionError,
         {"resolution_m": float("inf")}, ("--resolution", "inf")),
    Case("resolution_absurd", _tif("four.tif", scene), errors.ResolutionError,
         {"resolution_m": 1e9}, ("--resolution", "1e9")),
    Case("resolution_too_fine", _tif("four.tif", scene), errors.ResolutionError,
         {"resolution_m": 1.0}, ("--resolution", "1")),
    Case("resolution_upsample", _tif("four.tif", scene), errors.ResolutionError,
         {"resolution_m": 5.0}, ("--resolution", "5")),
    Case("source_pixel_tiny", _tif("tinypx.tif", scene, res=1e-6), errors.ImageTooSmallError),
    Case("source_pixel_huge", _tif("hugepx.tif", scene, res=1e6), OK, warns=errors.ResolutionWarning),
    Case("geographic_crs", _tif("wgs84.tif", scene, crs="EPSG:4326", res=0.0001, origin=(10.0, 45.0)), OK),
    Case("nodata_option_nan", _tif("four.tif", scene), OK, {"nodata": float("nan")},
         ("--nodata", "nan")),
    Case("unicode_space_path", _tif("my scene ☁ é 雲.tif", scene), OK),
]

CASE_IDS = [c.name for c in CASES]


def build_corpus(folder: Path) -> dict[str, Path | list[Path]]:
    """Write every case into its own sub-folder of ``folder``; return inputs by case name."""
    built: dict[str, Path | list[Path]] = {}
    for case in CASES:
        sub = folder / case.name
        sub.mkdir(parents=True, exist_ok=True)
        built[case.name] = case.build(sub)
    return built


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus")
    for name, item in build_corpus(out).items():
        print(f"{name:24s} {item}")
