"""Atomic files: write ``<name>.<host>-<pid>-<token>.partial`` beside the target, move it into place when complete.

A failure never leaves a half-written file under a final name. Used by every writer of
:mod:`ocm_engine.outputs`, by :mod:`ocm_engine.io.raster` (label maps, sample scenes, windows)
and by the batch summary (:mod:`ocm_engine.batch.runner`).
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
from pathlib import Path
from typing import Any

from ocm_engine.errors import OutputExistsError


def check_writable(path: Path, overwrite: bool) -> None:
    """Refuse to replace an existing output unless ``overwrite``.

    Args:
        path: The output file.
        overwrite: Whether replacing it is allowed.

    Raises:
        OutputExistsError: If ``path`` exists and ``overwrite`` is False.
    """
    if path.exists() and not overwrite:
        raise OutputExistsError(path)


_HOST = re.sub(r"[^A-Za-z0-9]+", "-", socket.gethostname())[:32] or "host"


@contextlib.contextmanager
def atomic_path(path: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary partial path; move it to ``path`` only when the block succeeds.

    The partial name is unique to this host, process and call
    (``<name>.<host>-<pid>-<token>.partial``), so concurrent writers (app sessions,
    parallel batches) never share one. Without ``overwrite`` the final move is a hard link,
    which fails instead of replacing a file another writer created meanwhile. Partials
    left by killed processes of this host are removed after a successful write.

    Args:
        path: The final file.
        overwrite: Replace an existing file.

    Yields:
        The partial path to write.

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
        raise OutputExistsError(path, concurrent=True) from err
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


def json_text(payload: Mapping[str, Any]) -> str:
    """The project's JSON form: indented, keys sorted (stable files and downloads)."""
    return json.dumps(payload, indent=2, sort_keys=True)


def write_json(path: Path, payload: Mapping[str, Any], *, overwrite: bool = False) -> Path:
    """Write a JSON document atomically.

    Args:
        path: Target file.
        payload: JSON-serialisable mapping.
        overwrite: Replace an existing file.

    Returns:
        The path written.
    """
    with atomic_path(path, overwrite) as partial:
        partial.write_text(json_text(payload))
    return path
