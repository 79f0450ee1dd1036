"""Uploads and session folders on a shared server: header checks, a disk quota, and cleanup.

- :func:`save_upload` writes an upload to ``NAME.partial`` in the session's folder, opens its
  header through the engine's ``raster_info`` (restricted to raster drivers that cannot reference other files, so a
  VRT or a file that *is* a VRT under a ``.tif`` name never makes GDAL open anything else),
  checks the declared width x height x bands before any pixel is decoded, and only then
  renames it into place. A refused file leaves nothing behind.
- A per-session disk quota (:func:`ocm_app.config.session_quota_bytes`) counts every file in
  the session's folder (uploads and read STAC windows).
- Session folders are removed by a time-based sweep (idle longer than
  :func:`ocm_app.config.session_ttl_s`) and when Streamlit drops the session: Streamlit 1.67
  has no public session-end hook, so a :class:`FolderGuard` kept only in the session's state
  carries a ``weakref.finalize`` that removes the folder once Streamlit releases the session's
  state (it closes a disconnected session after a grace period). The sweep is the guarantee;
  the finalizer is prompt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from ocm_app import config
from ocm_engine.errors import Hints, OcmError, PolicyError, SceneReadError
from ocm_engine.io.raster import raster_info

_LOG = logging.getLogger(__name__)
#: GDAL drivers an upload may be opened with on a shared server (neither references other files; VRT and HFA can).
HOSTED_DRIVERS: Final = ("GTiff", "JP2OpenJPEG")
_SWEEP_EVERY_S: Final = 60.0
_last_sweep = 0.0
_sweep_lock = threading.Lock()


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder`` (0 when it does not exist)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                continue
    return total


def check_quota(folder: Path, incoming: int, name: str) -> None:
    """Refuse ``incoming`` more bytes in the session's folder when they would pass the quota.

    Raises:
        PolicyError: Over the quota (the message names the user's file only).
    """
    quota = config.session_quota_bytes()
    used = folder_bytes(folder)
    if used + incoming > quota:
        raise PolicyError(
            f"Upload {name}", arrived=f"{incoming / 1e6:.1f} MB with {used / 1e6:.1f} MB of this session's space used",
            expected=f"at most {quota / 1e6:.1f} MB per session in all",
            hints=Hints.same("Remove uploads you no longer need (reload the page for a new session)."),
        )


def check_declared_size(path: Path, name: str, *, trusted: bool = False) -> None:
    """Open only the header of a saved upload and refuse what it declares before any pixel is decoded.

    Args:
        path: The saved file.
        name: The user's file name (the only name messages show).
        trusted: A trusted local install: any GDAL driver (VRTs included).

    Raises:
        SceneReadError: Not a raster the app reads.
        PolicyError: The declared width x height x bands is over the app's limits.
    """
    try:
        info = raster_info(path, drivers=None if trusted else HOSTED_DRIVERS)
    except SceneReadError as err:
        _LOG.info("upload %s (%s) refused: %s", name, path, err.__cause__ or err)
        allowed = "" if trusted else " (this server opens GeoTIFF and JPEG 2000 uploads only; no VRTs)"
        # The engine's text names the saved copy's server path: the visitor sees their own file name only.
        raise SceneReadError(f"Upload {name}", arrived="a file that does not open as a raster",
                             expected=f"a GeoTIFF or JPEG 2000{allowed}",
                             hints=Hints.same("Upload a GeoTIFF.")) from err
    width, height, count = info.width, info.height, info.count
    itemsize = int(np.dtype(info.dtype).itemsize)
    pixels = width * height
    decoded = pixels * count * itemsize
    if pixels > config.MAX_UPLOAD_PIXELS or decoded > config.MAX_UPLOAD_DECODED_MB * 1024 * 1024:
        raise PolicyError(
            f"Upload {name}", arrived=f"{width} x {height} px x {count} band(s) ({decoded / 1e9:.1f} GB decoded)",
            expected=(f"at most {config.MAX_UPLOAD_PIXELS / 1e6:.0f} Mpx and "
                      f"{config.MAX_UPLOAD_DECODED_MB / 1024:.0f} GB decoded"),
            hints=Hints.same("Crop it, or use `ocm predict` on your own machine."),
        )


def save_upload(name: str, data: bytes, folder: Path, prefix: str = "upload") -> Path:
    """Check and save an upload into the session's folder; its path (named by digest, never by ``name``).

    Args:
        name: The user's file name (used in messages only).
        data: The file's bytes.
        folder: The session's folder.
        prefix: File name prefix (``upload``, ``batch``).

    Returns:
        The saved path.

    Raises:
        SceneReadError: Over the per-file limit, or not a readable raster.
        PolicyError: Over the session's quota, or a header declaring too large a raster.
    """
    if len(data) > config.MAX_UPLOAD_MB * 1024 * 1024:
        raise SceneReadError(f"Upload {name}", arrived=f"{len(data) / 1e6:.0f} MB",
                             expected=f"at most {config.MAX_UPLOAD_MB} MB",
                             hints=Hints.same("Crop it, or use `ocm predict` on your own machine."))
    digest = hashlib.sha256(data).hexdigest()[:20]
    suffix = Path(name).suffix.lower()
    suffix = suffix if suffix in config.UPLOAD_SUFFIXES else ".tif"
    path = folder / f"{prefix}_{digest}{suffix}"
    if path.exists():
        return path
    check_quota(folder, len(data), name)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_bytes(data)
        check_declared_size(partial, name, trusted=config.trusted_local())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        for sidecar in folder.glob(partial.name + ".*"):  # .aux.xml GDAL may have written
            sidecar.unlink(missing_ok=True)
    return path


@dataclass(frozen=True, slots=True)
class SavedUploads:
    """A set of uploads after the checks: the files saved and the ones refused.

    Attributes:
        saved: ``(user's file name, saved path)`` of each accepted file, in upload order.
        refused: ``(user's file name, error)`` of each refused file.
    """

    saved: tuple[tuple[str, Path], ...]
    refused: tuple[tuple[str, OcmError], ...]


def save_uploads(files: Iterable[Any], folder: Path, prefix: str = "upload") -> SavedUploads:
    """Check and save uploaded files (Streamlit's ``UploadedFile``: ``.name``, ``.getvalue()``) one by one.

    A refused file does not stop the others. The scene picker and the Batch QA page both save
    uploads through this one function (:func:`save_upload` for each file).

    Args:
        files: The uploaded files.
        folder: The session's folder.
        prefix: File name prefix (``upload``, ``batch``).
    """
    saved: list[tuple[str, Path]] = []
    refused: list[tuple[str, OcmError]] = []
    for upload in files:
        name = str(upload.name)
        try:
            saved.append((name, save_upload(name, upload.getvalue(), folder, prefix=prefix)))
        except OcmError as err:
            refused.append((name, err))
    return SavedUploads(tuple(saved), tuple(refused))


def touch(folder: Path) -> None:
    """Mark a session's folder as in use (the sweep removes folders idle past the TTL)."""
    try:
        os.utime(folder)
    except OSError:
        return


def sweep(root: Path, max_age_s: float | None = None, *, now: float | None = None) -> list[Path]:
    """Remove session folders under ``root`` idle for longer than ``max_age_s``; the removed folders."""
    if not root.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - (config.session_ttl_s() if max_age_s is None else max_age_s)
    removed = []
    for child in root.iterdir():
        try:
            if child.is_dir() and child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child)
        except OSError:
            continue
    if removed:
        _LOG.info("swept %d expired session folder(s)", len(removed))
    return removed


def sweep_now_and_then(root: Path) -> None:
    """:func:`sweep`, at most once a minute per process (called on every page run)."""
    global _last_sweep
    with _sweep_lock:
        if time.monotonic() - _last_sweep < _SWEEP_EVERY_S:
            return
        _last_sweep = time.monotonic()
    sweep(root)


class FolderGuard:
    """An object kept in a session's state only: its collection means the session is gone.

    Args:
        folder: The session's folder (for its repr).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __repr__(self) -> str:
        """A short description (no path: session state can be shown)."""
        return "FolderGuard(session folder)"


def remove_with_session(owner: Any, folder: Path) -> Any:
    """Remove ``folder`` when ``owner`` (the session's state object) is garbage-collected.

    Returns:
        The finalizer, or ``None`` when ``owner`` cannot be weakly referenced.
    """
    try:
        return weakref.finalize(owner, shutil.rmtree, str(folder), True)
    except TypeError:
        return None


__all__ = ["HOSTED_DRIVERS", "FolderGuard", "SavedUploads", "check_declared_size", "check_quota", "folder_bytes",
           "remove_with_session", "save_upload", "save_uploads", "sweep", "sweep_now_and_then", "touch"]
