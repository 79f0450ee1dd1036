"""App-wide settings: folders, limits and environment variables.

Environment variables:
    OCM_SAMPLES_DIR: Folder the sample gallery reads (default ``../shared/data`` beside the repo).
    OCM_APP_MAX_PIXELS: Largest inference grid the app processes in memory (default 16 Mpx).
    OCM_APP_TMP: Root of the per-session temporary folders (default: the system temp dir).
    OCM_APP_MODEL: Weights folder or file the app uses instead of the embedded default
        (operational installs with their own model; the browser test's tiny model).
    OCM_TRUSTED_LOCAL: ``1`` on a single-user install: the app trusts its one user (local STAC
        catalogs and paths, the official-weights download button). Default off: a demo server
        whose visitors are strangers.
    OCM_ALLOWED_ORIGINS: Comma-separated ``scheme://host:port`` origins the app may read even
        when they resolve to non-public addresses (an internal catalog).
    OCM_MAX_CONCURRENT_RUNS: Model runs at once (default: from memory, see :func:`max_concurrent_runs`).
    OCM_APP_MEMORY_MB: Memory the app's runs may use (default: half the machine's).
    OCM_SESSION_QUOTA_MB: Disk each session may fill with uploads and windows (default 1024).
    OCM_SESSION_TTL_S: Seconds an idle session's folder is kept (default 21600, 6 h).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Final

from ocm_engine.netpolicy import NetPolicy

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


# ----------------------------------------------------------------------------- server safety (issue 21)
TRUSTED_LOCAL_ENV: Final = "OCM_TRUSTED_LOCAL"
ALLOWED_ORIGINS_ENV: Final = "OCM_ALLOWED_ORIGINS"
#: Peak bytes a run adds per inference-grid pixel (scene, patches, probabilities, accumulators, display).
#: Measured: a 1 Mpx run of a 2-member test ensemble raised the process's peak RSS by about 620 MB.
RUN_BYTES_PER_PX: Final = 700
#: Largest raster an upload may declare in its header, checked before any pixel is decoded.
MAX_UPLOAD_PIXELS: Final = int(os.environ.get("OCM_APP_MAX_UPLOAD_PIXELS", 4 * MAX_INFERENCE_PIXELS))
#: Largest decoded size (all bands, native dtype) an upload may declare, in MB.
MAX_UPLOAD_DECODED_MB: Final = int(os.environ.get("OCM_APP_MAX_UPLOAD_DECODED_MB", 4096))


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def trusted_local() -> bool:
    """Whether this is a trusted single-user install (``$OCM_TRUSTED_LOCAL``): local reads, weight downloads."""
    return _flag(TRUSTED_LOCAL_ENV)


def allowed_origins() -> tuple[str, ...]:
    """Origins (``scheme://host:port``) the operator allows beyond public addresses (``$OCM_ALLOWED_ORIGINS``)."""
    return tuple(o.strip() for o in os.environ.get(ALLOWED_ORIGINS_ENV, "").split(",") if o.strip())


def net_policy() -> NetPolicy:
    """The app's network and file policy: hosted (strangers) unless the install is trusted.

    A trusted local install still checks URLs the same way, but also reads local catalogs and paths.

    Raises:
        ValueError: A malformed ``$OCM_ALLOWED_ORIGINS`` entry.
    """
    return NetPolicy.hosted_default(allowed_origins(), allow_local=trusted_local())


def memory_budget_bytes() -> int:
    """Memory the app's model runs may use together (``$OCM_APP_MEMORY_MB``, else half the machine's)."""
    env = os.environ.get("OCM_APP_MEMORY_MB")
    if env:
        return int(float(env) * 1024 * 1024)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 1024**3
    return int(total // 2)


def max_concurrent_runs() -> int:
    """Model runs at once: ``$OCM_MAX_CONCURRENT_RUNS``, else the memory budget over one largest run."""
    env = os.environ.get("OCM_MAX_CONCURRENT_RUNS")
    if env:
        return max(1, int(env))
    return max(1, memory_budget_bytes() // (MAX_INFERENCE_PIXELS * RUN_BYTES_PER_PX))


def session_quota_bytes() -> int:
    """Disk one session may fill (uploads, read windows): ``$OCM_SESSION_QUOTA_MB`` (default 1024 MB)."""
    return int(float(os.environ.get("OCM_SESSION_QUOTA_MB", 1024)) * 1024 * 1024)


def session_ttl_s() -> float:
    """Seconds an idle session's folder is kept before the sweep removes it (``$OCM_SESSION_TTL_S``)."""
    return float(os.environ.get("OCM_SESSION_TTL_S", 6 * 3600))
