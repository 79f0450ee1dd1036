"""The one resolver of the official OmniCloudMask v4 weights: where they are, fetching them, verifying them.

Used by :func:`~ocm_engine.load_ensemble` (``"official"``), the CLI (``ocm weights``,
``ocm predict --weights official``), batch workers and the app. Folders are searched in order,
and the first one holding the complete, verified pair wins:

1. the folder passed explicitly (``weights_dir=``, ``--weights-dir``): only that one;
2. ``$OCM_WEIGHTS_DIR``;
3. this project's cache (``~/.cache/ocm_studio/weights``), where downloads go;
4. the reference package's own data folders: ``omnicloudmask`` keeps the files in
   ``platformdirs.user_data_dir("omnicloudmask", version=<its release>)``, so every release
   has its own folder; every release folder is searched, under the Linux, macOS and Windows
   conventions (a home folder copied or mounted from another system is found too).

Every file is checked for its pinned size and SHA-256 before it is loaded; digests are
remembered per process by (path, size, mtime), so repeated loads do not hash again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from ocm_engine.errors import Hints, ModelLoadError
from ocm_engine.models import hub
from ocm_engine.models import weights as weights_registry
from ocm_engine.models.weights import WeightSpec, weights_problem

SourceKind = Literal["explicit", "env", "cache", "reference"]
FileState = Literal["found", "missing", "corrupt"]

WEIGHTS_ENV: Final = "OCM_WEIGHTS_DIR"
REFERENCE_APP: Final = "omnicloudmask"
OFFICIAL_NAME: Final = "OmniCloudMask v4 (official)"
DOWNLOAD_MB: Final = 58
"""Size of the official pair, rounded (27.1 MB + 30.7 MB), for buttons and prompts."""

KIND_LABELS: Final[dict[str, str]] = {
    "explicit": "the folder you named",
    "env": f"${WEIGHTS_ENV}",
    "cache": "this project's cache",
    "reference": "the omnicloudmask package's cache",
}


@dataclass(frozen=True, slots=True)
class FileStatus:
    """One official file in one folder.

    Attributes:
        spec: The pinned file.
        path: Where it was looked for.
        state: ``"found"`` (size and, when verified, SHA-256 match), ``"missing"`` or ``"corrupt"``.
        detail: Why a file is corrupt (``"1,024 bytes, expected 27,094,520 bytes"``), else ``""``.
    """

    spec: WeightSpec
    path: Path
    state: FileState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class WeightsLocation:
    """A folder searched for the official pair, and what it holds.

    Attributes:
        folder: The folder.
        kind: Why it was searched (``"explicit"``, ``"env"``, ``"cache"``, ``"reference"``).
        files: One status per official file.
        verified: Whether SHA-256 digests were checked (else only sizes).
    """

    folder: Path
    kind: SourceKind
    files: tuple[FileStatus, ...]
    verified: bool = True

    @property
    def complete(self) -> bool:
        """Every file is present and matches its pin."""
        return all(f.state == "found" for f in self.files)

    @property
    def state(self) -> FileState:
        """``"found"`` when complete, ``"corrupt"`` when any file is corrupt, else ``"missing"``."""
        if self.complete:
            return "found"
        return "corrupt" if any(f.state == "corrupt" for f in self.files) else "missing"

    def summary(self) -> str:
        """One line: the folder, why it was searched, and what is wrong with it (if anything)."""
        where = f"{self.folder} ({KIND_LABELS[self.kind]})"
        if self.complete:
            return f"{where}: complete"
        if all(f.state == "missing" for f in self.files):
            return f"{where}: no official files" if self.folder.is_dir() else f"{where}: no such folder"
        parts = [f"{f.path.name} {f.state}" + (f" ({f.detail})" if f.detail else "")
                 for f in self.files if f.state != "found"]
        return f"{where}: {'; '.join(parts)}"


@dataclass(frozen=True, slots=True)
class OfficialWeights:
    """The resolved official pair.

    Attributes:
        location: The folder that holds the complete, verified pair.
        searched: Every folder looked at, in order (the winner included).
    """

    location: WeightsLocation
    searched: tuple[WeightsLocation, ...]

    @property
    def members(self) -> list[tuple[str, Path]]:
        """``(architecture key, path)`` of each member file."""
        return [(f.spec.arch, f.path) for f in self.location.files]

    @property
    def sha256(self) -> str:
        """The members' digests as ``"arch:sha256,arch:sha256"``."""
        return ",".join(f"{f.spec.arch}:{f.spec.sha256}" for f in self.location.files)

    def metadata(self) -> dict[str, str]:
        """Facts for :attr:`Ensemble.metadata` and, from there, every output's provenance."""
        return {
            "name": OFFICIAL_NAME,
            "version": "4",
            "weights_name": f"{weights_registry.HUB_REPO_ID} v4",
            "weights_revision": weights_registry.HUB_REVISION,
            "weights_sha256": self.sha256,
            "weights_source": self.location.kind,
        }


def official_specs() -> tuple[WeightSpec, ...]:
    """The pinned official files (read at call time, so tests can swap the registry)."""
    return tuple(weights_registry.OFFICIAL_WEIGHTS.values())


def project_cache_dir() -> Path:
    """This project's weights cache, where downloads go unless a folder is named."""
    return Path.home() / ".cache" / "ocm_studio" / "weights"


def download_dir(weights_dir: str | Path | None = None) -> Path:
    """Where a download goes: the folder named, else ``$OCM_WEIGHTS_DIR``, else the project cache."""
    if weights_dir is not None:
        return Path(weights_dir).expanduser()
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env).expanduser() if env else project_cache_dir()


def reference_roots(home: Path | None = None) -> list[Path]:
    """The reference package's data roots (``.../omnicloudmask``) under every OS convention.

    Linux: ``$XDG_DATA_HOME`` or ``~/.local/share``; macOS: ``~/Library/Application Support``;
    Windows: ``%LOCALAPPDATA%`` or ``~/AppData/Local``, then ``omnicloudmask/omnicloudmask``
    (platformdirs repeats the name as the author); plus what ``platformdirs`` says on this system.
    """
    home = home or Path.home()
    roots = [
        Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share") / REFERENCE_APP,
        home / ".local" / "share" / REFERENCE_APP,
        home / "Library" / "Application Support" / REFERENCE_APP,
        Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / REFERENCE_APP / REFERENCE_APP,
        home / "AppData" / "Local" / REFERENCE_APP / REFERENCE_APP,
    ]
    try:
        import platformdirs

        roots.insert(0, Path(platformdirs.user_data_dir(REFERENCE_APP)))
    except ImportError:  # the hand-computed roots above still cover every convention
        pass
    unique: list[Path] = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", name)) or (-1,)


def reference_folders(home: Path | None = None) -> list[Path]:
    """Existing folders the reference package may have downloaded into: every release's, newest first.

    Each root's release subfolders (``1.8.1``, ``1.7.0``...) come first, then the root itself
    (a layout without a version folder).
    """
    found: list[Path] = []
    for root in reference_roots(home):
        if not root.is_dir():
            continue
        releases = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: _version_key(p.name),
                          reverse=True)
        found.extend(p for p in [*releases, root] if p not in found)
    return found


def candidate_folders(weights_dir: str | Path | None = None) -> list[tuple[Path, SourceKind]]:
    """The folders searched for the official pair, in order (see the module docstring)."""
    if weights_dir is not None:
        return [(Path(weights_dir).expanduser(), "explicit")]
    folders: list[tuple[Path, SourceKind]] = []
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        folders.append((Path(env).expanduser(), "env"))
    folders.append((project_cache_dir(), "cache"))
    folders.extend((p, "reference") for p in reference_folders())
    return folders


def check_folder(folder: Path, kind: SourceKind, *, verify: bool = True) -> WeightsLocation:
    """What ``folder`` holds of the official pair.

    Args:
        folder: The folder.
        kind: Why it is searched.
        verify: Check SHA-256 digests (cached per process); else only sizes.
    """
    files: list[FileStatus] = []
    for spec in official_specs():
        path = folder / spec.file
        if not path.is_file():
            files.append(FileStatus(spec, path, "missing"))
            continue
        try:
            problem = weights_problem(spec, path) if verify else _size_problem(spec, path)
        except OSError as err:
            problem = f"unreadable: {err.strerror or err}"
        files.append(FileStatus(spec, path, "corrupt", problem) if problem else FileStatus(spec, path, "found"))
    return WeightsLocation(folder, kind, tuple(files), verify)


def _size_problem(spec: WeightSpec, path: Path) -> str:
    size = path.stat().st_size
    if spec.size_bytes is not None and size != spec.size_bytes:
        return f"{size:,} bytes, expected {spec.size_bytes:,} bytes"
    return ""


def survey_official(weights_dir: str | Path | None = None, *, verify: bool = True) -> tuple[WeightsLocation, ...]:
    """Every candidate folder and what it holds, in search order (for ``ocm weights``)."""
    return tuple(check_folder(folder, kind, verify=verify) for folder, kind in candidate_folders(weights_dir))


def find_official(weights_dir: str | Path | None = None) -> OfficialWeights | None:
    """The first folder with the complete, verified pair, or ``None`` (no download, no error)."""
    searched: list[WeightsLocation] = []
    for folder, kind in candidate_folders(weights_dir):
        location = check_folder(folder, kind)
        searched.append(location)
        if location.complete:
            return OfficialWeights(location, tuple(searched))
    return None


def resolve_official(
    weights_dir: str | Path | None = None,
    *,
    download: bool = False,
    progress: hub.ProgressFn | None = None,
    stall_timeout_s: float = hub.DEFAULT_STALL_TIMEOUT_S,
) -> OfficialWeights:
    """Find the verified official pair, downloading it first when asked and none is found.

    Args:
        weights_dir: A folder to use instead of the search (see the module docstring).
        download: Fetch the pair from the hub when no folder holds it.
        progress: Download progress callback.
        stall_timeout_s: A transfer that receives nothing this long ends with an error.

    Returns:
        Where the pair is, and every folder searched.

    Raises:
        ModelLoadError: No complete, verified pair (the message lists what was found where and
            what to do); ``WeightsDownloadError``/``WeightsOfflineError`` when a download fails.
    """
    found = find_official(weights_dir)
    if found is not None:
        return found
    if download:
        return download_official(weights_dir, progress=progress, stall_timeout_s=stall_timeout_s)
    searched = survey_official(weights_dir)
    raise not_found_error(searched, download_dir(weights_dir))


def not_found_error(searched: Sequence[WeightsLocation], dest: Path) -> ModelLoadError:
    """The error for a missing or corrupt official pair: what is where, and (per front end) what to do."""
    problems = [loc.summary() for loc in searched if any(f.state != "missing" for f in loc.files)]
    corrupt = any(loc.state == "corrupt" for loc in searched)
    looked = ", ".join(str(loc.folder) for loc in searched)
    then = "Delete the corrupt file(s), then " if corrupt else ""
    run, use = (f"{then}run", f"{then}use") if corrupt else ("Run", "Use")
    manual = manual_hint(dest)
    return ModelLoadError(
        "Official OmniCloudMask v4 weights",
        arrived=f"no complete, verified pair (found: {' | '.join(problems)})" if problems else "no installed pair",
        expected=f"the verified pair in one of: {looked}",
        hints=Hints(python=f"{run} load_ensemble('official', download=True), or {manual}",
                    cli=f"{run} `ocm weights --download`, or {manual}",
                    app=f"{use} the weights panel's download button, or {manual}"),
    )


def manual_hint(dest: Path) -> str:
    """What to copy where by hand (offline machines, blocked networks)."""
    names = " and ".join(spec.file for spec in official_specs())
    return (f"copy {names} (from https://huggingface.co/{weights_registry.HUB_REPO_ID}/tree/"
            f"{weights_registry.HUB_REVISION[:12]}) into {dest}, or point ${WEIGHTS_ENV} at the folder "
            "holding them.")


def hub_files() -> tuple[hub.HubFile, ...]:
    """The official pair as pinned hub files.

    Raises:
        ModelLoadError: If a registry entry lacks its size or digest (nothing to verify against).
    """
    items = []
    for spec in official_specs():
        if spec.size_bytes is None or spec.sha256 is None:
            raise ModelLoadError(f"Official weight spec {spec.key}", arrived="no pinned size or SHA-256",
                                 expected="a size and SHA-256 to verify the download against")
        items.append(hub.HubFile(weights_registry.HUB_REPO_ID, weights_registry.HUB_REVISION, spec.file,
                                 spec.size_bytes, spec.sha256))
    return tuple(items)


def download_official(
    weights_dir: str | Path | None = None,
    *,
    progress: hub.ProgressFn | None = None,
    stall_timeout_s: float = hub.DEFAULT_STALL_TIMEOUT_S,
) -> OfficialWeights:
    """Download the files of the official pair that ``download_dir(weights_dir)`` lacks, then verify.

    A file already there and verified is kept; a partial download (``*.incomplete``) resumes; a
    corrupt file is replaced only once its replacement is verified.

    Returns:
        The pair in the download folder.

    Raises:
        WeightsOfflineError: ``HF_HUB_OFFLINE`` is set.
        WeightsDownloadError: The hub cannot be reached, stalls, or serves another file.
    """
    dest = download_dir(weights_dir)
    kind: SourceKind = "explicit" if weights_dir is not None else ("env" if os.environ.get(WEIGHTS_ENV) else "cache")
    items = hub_files()
    before = check_folder(dest, kind)
    for index, (item, status) in enumerate(zip(items, before.files, strict=True)):
        if status.state == "found":
            if progress is not None:
                progress(hub.DownloadProgress(item.filename, item.size_bytes, item.size_bytes, index, len(items)))
            continue
        hub.download_file(item, dest / item.filename, progress=progress, stall_timeout_s=stall_timeout_s,
                          file_index=index, file_count=len(items), manual_hint=f"Or {manual_hint(dest)}")
    after = check_folder(dest, kind)
    if not after.complete:  # the files changed on disk between download and check
        raise not_found_error([after], dest)
    return OfficialWeights(after, (after,))
