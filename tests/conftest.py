"""Shared fixtures: synthetic rasters, tiny random-weight ensembles, data paths."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import torch
from rasterio.io import MemoryFile
from rasterio.transform import from_origin

# One thread per pytest-xdist worker (the README runs `-n 2` on 2 cores), else up to two.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // _WORKERS)))

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED_DATA.is_dir():
    SHARED_DATA = Path(os.environ.get("OCM_SHARED_DATA", "/nonexistent"))


@pytest.fixture(scope="session", autouse=True)
def _compiled_backend_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Tests run PyTorch unless they ask for a backend, and convert into a temporary cache.

    ``backend="auto"`` would otherwise convert the real default model to OpenVINO (minutes
    on 2 cores) in every test that uses it; tests of the compiled backend name it. Set in
    ``os.environ`` so subprocesses (CLI tests, batch workers) inherit it.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OCM_BACKEND", "torch")
        patch.setenv("OCM_COMPILED_DIR", str(tmp_path_factory.mktemp("ocm_compiled")))
        yield


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "gpu" in item.keywords and not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")


@pytest.fixture
def shared_data() -> Path:
    """The shared real-data folder; skips the test when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


def synthetic_scene(bands: int = 4, height: int = 96, width: int = 128, dtype: str = "uint16",
                    seed: int = 0) -> np.ndarray:
    """A smooth random scene with bright blobs (clouds) and dark blobs, ``(bands, h, w)``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 0.1 + 0.05 * np.sin(xx / 9.0) * np.cos(yy / 7.0)
    blob = np.exp(-(((xx - width * 0.3) ** 2 + (yy - height * 0.4) ** 2) / (2 * (width / 8) ** 2)))
    img = np.stack([base + 0.6 * blob + 0.01 * rng.standard_normal((height, width)) for _ in range(bands)])
    img = np.clip(img, 0.001, 1.0)
    if np.dtype(dtype).kind == "f":
        return img.astype(dtype)
    scale = 255 if np.dtype(dtype) == np.uint8 else 10000
    return np.clip(img * scale, 1, np.iinfo(dtype).max).astype(dtype)


def write_geotiff(path: Path | None = None, *, bands: int = 4, height: int = 96, width: int = 128,
                  dtype: str = "uint16", nodata: float | None = 0, crs: str | None = "EPSG:32633",
                  res: float = 10.0, data: np.ndarray | None = None, seed: int = 0) -> Path | bytes:
    """Write a synthetic (or given) ``(bands, h, w)`` GeoTIFF to ``path``, or return its bytes when ``None``."""
    array = synthetic_scene(bands, height, width, dtype, seed) if data is None else data
    profile: dict[str, Any] = dict(driver="GTiff", width=array.shape[2], height=array.shape[1],
                                   count=array.shape[0], dtype=str(array.dtype), nodata=nodata,
                                   transform=from_origin(500000, 4000000, res, res))
    if crs:
        profile["crs"] = crs
    if path is None:
        with MemoryFile() as mem:
            with mem.open(**profile) as dst:
                dst.write(array)
            return bytes(mem.read())
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
    return path


@pytest.fixture
def make_geotiff(tmp_path: Path) -> Callable[..., Any]:
    """The raster factory: ``make_geotiff("in/a.tif", bands=..., dtype=..., nodata=..., crs=..., res=...,
    data=..., seed=...)`` writes under ``tmp_path`` (absolute paths as given) and returns the path;
    ``as_bytes=True`` returns the file's bytes instead (an upload)."""

    def factory(name: str | Path = "scene.tif", *, as_bytes: bool = False, **kwargs: Any) -> Any:
        if as_bytes:
            return write_geotiff(None, **kwargs)
        return write_geotiff(tmp_path / name, **kwargs)

    return factory


@pytest.fixture
def geotiff_bytes(make_geotiff: Callable[..., Any]) -> Callable[..., bytes]:
    """``make_geotiff(as_bytes=True)``: a synthetic GeoTIFF as bytes (an upload)."""

    def factory(bands: int = 4, height: int = 96, width: int = 128, dtype: str = "uint16") -> bytes:
        data: bytes = make_geotiff(as_bytes=True, bands=bands, height=height, width=width, dtype=dtype)
        return data

    return factory


def write_weights(folder: Path, *, members: int = 2, seed: int = 1, prefix: str = "member") -> Path:
    """Save ``members`` random-weight registry ``test_resnet`` U-Nets as safetensors in ``folder``."""
    from safetensors.torch import save_file

    from ocm_engine.models.registry import build_member

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    for i in range(members):
        member = build_member("test_resnet")
        save_file({k: v.contiguous() for k, v in member.state_dict().items()},
                  str(folder / f"{prefix}{i}_test_resnet.safetensors"))
    return folder


@pytest.fixture(scope="session")
def make_weights(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """The weights factory: ``make_weights(members=2, seed=1)`` -> a folder of random-weight
    ``test_resnet`` members (written once per session and arguments; treat it as read-only)."""
    made: dict[tuple[int, int], Path] = {}

    def factory(members: int = 2, seed: int = 1) -> Path:
        key = (members, seed)
        if key not in made:
            made[key] = write_weights(tmp_path_factory.mktemp(f"weights{members}-{seed}"), members=members, seed=seed)
        return made[key]

    return factory


@pytest.fixture
def tiny_weights_dir(make_weights: Callable[..., Path]) -> Path:
    """Two registry ``test_resnet`` members (``make_weights(2, seed=1)``)."""
    return make_weights(2, seed=1)


@pytest.fixture(autouse=True)
def _torch_threads_do_not_leak() -> Any:
    """Restore ``torch.set_num_threads`` after every test (batch workers and benches change it)."""
    before = torch.get_num_threads()
    yield
    if torch.get_num_threads() != before:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_members() -> list[torch.nn.Module]:
    """Two tiny random-weight U-Nets (``tu-test_resnet``), eval mode."""
    import segmentation_models_pytorch as smp

    torch.manual_seed(0)
    return [
        smp.Unet("tu-test_resnet", encoder_weights=None, in_channels=3, classes=4,
                 decoder_channels=(32, 16, 16, 8, 8)).eval()
        for _ in range(2)
    ]


@pytest.fixture(scope="session")
def tiny_ensemble(tiny_members: list[torch.nn.Module]) -> Any:
    """An :class:`Ensemble` of the tiny members on the CPU, fp32."""
    from ocm_engine import load_ensemble

    return load_ensemble(tiny_members, device="cpu", dtype="fp32")
