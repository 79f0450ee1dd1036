"""The ``ocm weights`` command: which weights are installed where, fetch and verify the official pair.

``ocm weights``            lists the default model and every folder searched for the official pair;
``ocm weights --verify``   also checks every file's SHA-256 (exit status 1 when the pair is unusable);
``ocm weights --download`` fetches the official pair (resumable, verified, with a progress bar).

Also :func:`add_download_flag`/:func:`prepare_weights` for ``ocm predict --weights official --download``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocm_engine.errors import ModelLoadError, OcmError, one_line
from ocm_engine.models import hub

if TYPE_CHECKING:
    from ocm_engine.models.official import OfficialWeights

NAME = "weights"
HELP = "list installed weights; download or verify the official OmniCloudMask v4 pair"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``ocm weights`` on the ``ocm`` command's subparsers.

    Returns:
        The ``weights`` sub-parser (its ``func`` runs the command).
    """
    p: argparse.ArgumentParser = subparsers.add_parser(NAME, help=HELP, description=HELP)
    action = p.add_mutually_exclusive_group()
    action.add_argument("--download", action="store_true",
                        help="download the official pair from the model hub (resumes a partial download)")
    action.add_argument("--verify", action="store_true",
                        help="check every file's SHA-256 (default: sizes only); exit 1 if no usable official pair")
    p.add_argument("--weights-dir", type=Path, default=None,
                   help="use this folder only (default: $OCM_WEIGHTS_DIR, this project's cache, then "
                        "omnicloudmask's own cache folders); downloads go here")
    p.add_argument("--stall-timeout", type=float, default=hub.DEFAULT_STALL_TIMEOUT_S, metavar="S",
                   help="give up when the hub sends nothing for S seconds (default %(default)g)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``ocm weights``; returns the exit status (``OcmError`` propagates to the caller)."""
    from ocm_engine.models import official

    if args.download:
        found = official.find_official(args.weights_dir)
        if found is None:
            found = download_with_bar(args.weights_dir, quiet=args.quiet, stall_timeout_s=args.stall_timeout)
        print(f"official  found    {found.location.folder} ({official.KIND_LABELS[found.location.kind]}); "
              "verified: size and SHA-256 match the pinned revision")
        return 0
    _print_default()
    locations = official.survey_official(args.weights_dir, verify=args.verify)
    winner = next((loc for loc in locations if loc.complete), None)
    for loc in locations:
        mark = "  <- used" if loc is winner else ""
        print(f"official  {loc.state:<8} {loc.summary()}{mark}")
    if winner is None:
        print(f"          get them: ocm weights --download  (into {official.download_dir(args.weights_dir)})")
    elif not args.verify:
        print("          (sizes checked; --verify also checks SHA-256, as every load does)")
    return 0 if winner is not None or not args.verify else 1


def _print_default() -> None:
    from ocm_engine.models.sources import DEFAULT_WEIGHTS_DIR, default_paths

    try:
        _members, meta = default_paths()
    except OcmError as err:
        print(f"default   corrupt  {DEFAULT_WEIGHTS_DIR}: {one_line(err, frontend='cli')}")
        return
    print(f"default   found    {DEFAULT_WEIGHTS_DIR} (embedded; {meta.get('name', '?')} "
          f"v{meta.get('version', '?')}, SHA-256 checked)")


def tqdm_progress(quiet: bool = False) -> tuple[hub.ProgressFn | None, Callable[[], None]]:
    """A download progress callback drawing one tqdm bar over every file, and a function closing it."""
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    from ocm_engine.models import official

    total = sum(spec.size_bytes or 0 for spec in official.official_specs())
    bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="official weights",
               file=sys.stderr, dynamic_ncols=True)
    finished: dict[int, int] = {}

    def update(progress: hub.DownloadProgress) -> None:
        finished[progress.file_index] = progress.done_bytes
        bar.update(sum(finished.values()) - bar.n)

    return update, bar.close


def download_with_bar(
    weights_dir: Path | None = None, *, quiet: bool = False, stall_timeout_s: float = hub.DEFAULT_STALL_TIMEOUT_S
) -> OfficialWeights:
    """Download the official pair with a tqdm bar on stderr (see ``official.download_official``)."""
    from ocm_engine.models import official

    update, close = tqdm_progress(quiet)
    try:
        return official.download_official(weights_dir, progress=update, stall_timeout_s=stall_timeout_s)
    finally:
        close()


def add_download_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``--download`` to a command that takes ``--weights`` (``ocm predict``)."""
    parser.add_argument("--download", action="store_true",
                        help="with --weights official: download the official pair first when it is not installed")


def prepare_weights(args: argparse.Namespace) -> None:
    """For ``--weights official --download``: make sure the verified pair is installed (with a progress bar).

    Raises:
        OcmError: The download failed (offline, unreachable hub, stalled, wrong file).
    """
    if not getattr(args, "download", False):
        return
    if getattr(args, "weights", None) != "official":
        raise ModelLoadError("--download", arrived=f"--weights {args.weights}",
                             expected="--weights official (--download fetches the official weights only)")
    from ocm_engine.models import official

    if official.find_official() is None:
        download_with_bar(quiet=bool(getattr(args, "quiet", False)))
