"""App-wide settings: folders, limits and environment variables.

Environment variables:
    OCM_SAMPLES_DIR: Folder the sample gallery reads (default ``../shared/data`` beside the repo).
    OCM_APP_MAX_PIXELS: Largest inference grid the app processes in memory (default 16 Mpx).
    OCM_APP_TMP: Root of the per-session temporary folders (default: the system temp dir).
    OCM_APP_MODEL: Weights folder or file the app uses instead of the embedded default
        (operational installs with their own model; the browser test's tiny model).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
SAMPLES_ENV: Final = "OCM_SAMPLES_DIR"
DEFAULT_SAMPLES_DIR: Final = REPO_ROOT.parent / "shared" / "data"
NODE_MODULES: Final = REPO_ROOT / "node_modules"

#: Largest inference grid (pixels) processed by the app; bigger scenes: use ``ocm predict``.
MAX_INFERENCE_PIXELS: Final = int(os.environ.get("OCM_APP_MAX_PIXELS", 16_000_000))
#: Longest side (pixels) of the images drawn on maps and thumbnails.
DISPLAY_MAX_PX: Final = 1024
PREVIEW_MAX_PX: Final = 384
THUMBNAIL_PX: Final = 96
#: Upload suffixes accepted (checked again by opening the file with rasterio).
UPLOAD_SUFFIXES: Final = (".tif", ".tiff", ".jp2", ".vrt", ".img")
#: Upload limit per file, in MB (Streamlit's own limit is in .streamlit/config.toml).
MAX_UPLOAD_MB: Final = 200


def model_override() -> str | None:
    """A weights folder/file that replaces the embedded default model (``$OCM_APP_MODEL``)."""
    return os.environ.get("OCM_APP_MODEL") or None


def samples_dir() -> Path:
    """The folder the sample gallery reads (``$OCM_SAMPLES_DIR`` or ``../shared/data``)."""
    env = os.environ.get(SAMPLES_ENV)
    return Path(env).expanduser().resolve() if env else DEFAULT_SAMPLES_DIR.resolve()


def temp_root() -> Path:
    """Root folder of the app's temporary files (per-session folders live under it)."""
    root = Path(os.environ.get("OCM_APP_TMP", tempfile.gettempdir())) / "ocm_studio"
    root.mkdir(parents=True, exist_ok=True)
    return root
