"""Every corpus case through the ``ocm predict`` command, in subprocesses with a timeout.

Cases with the same options run in one batch (one process) to keep the suite fast; a
failing scene must give exactly one ``error: <input>: ...`` line on stderr, the batch must
go on, the exit status is 1 when a scene failed (2 for command-line/global errors), and
stderr never holds a Python traceback or raw library output.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import run_cli
from .corpus import CASES, OK, Case, scene, write_tif
from .test_bad_inputs import PYTHON_ARGS

# Subprocess CLI runs: the whole module is slow (run with -m slow; CI runs it). The same
# corpus goes through the engine in-process in test_bad_inputs.py in the default run.
pytestmark = pytest.mark.slow

ALLOWED_PREFIXES = ("error: ", "warning: ", "skipped ")


def _cli_input(item: Path | list[Path]) -> str:
    """Band-file cases are given as their folder, as users do."""
    return str(item[0].parent) if isinstance(item, list) else str(item)


def _groups() -> list[tuple[tuple[str, ...], list[Case]]]:
    key = lambda c: c.cli  # noqa: E731
    return [(k, list(g)) for k, g in itertools.groupby(sorted(CASES, key=key), key=key)]


GROUPS = _groups()


def _assert_clean_stderr(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    odd = [line for line in stderr.splitlines() if line.strip() and not line.startswith(ALLOWED_PREFIXES)]
    assert not odd, f"unexpected stderr lines (raw library output?): {odd}"


# One process per option set costs 5-15 s on the shared 2-core machines: the default-options
# batch (most of the corpus) and the unknown-sensor run are in the fast suite, the other
# option sets are marked slow (run them with -m slow).
FAST_GROUPS = {(), ("--sensor", "sentinel99")}
GROUP_PARAMS = [
    pytest.param(k, g, id=" ".join(k) or "defaults", marks=() if k in FAST_GROUPS else pytest.mark.slow)
    for k, g in GROUPS
]


@pytest.mark.parametrize(("options", "cases"), GROUP_PARAMS)
def test_cli_corpus(options: tuple[str, ...], cases: list[Case], corpus: dict[str, Any],
                    cli_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "out ☁"
    inputs = [_cli_input(corpus[c.name]) for c in cases]
    proc = run_cli("predict", *inputs, "-o", str(out), "--weights", str(cli_weights), "-q",
                   "--probabilities", *options)
    if "sentinel99" in options:  # argparse rejects the value before any scene runs
        assert proc.returncode == 2
        assert "sentinel99" in proc.stderr and "Traceback" not in proc.stderr
        assert "sentinel2_l2a" in proc.stderr, "the message must list the valid names"
        return
    _assert_clean_stderr(proc.stderr)
    failed = [c for c in cases if (c.cli_expect or c.expect) != OK]
    assert proc.returncode == (1 if failed else 0), proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    for case, raw in zip(cases, inputs, strict=True):
        mine = [line for line in errors if line.startswith(f"error: {raw}: ")]
        if case in failed:
            assert len(mine) == 1, f"{case.name}: expected one error line, got {mine}\n{proc.stderr}"
            assert len(mine[0]) > len(raw) + 50, f"{case.name}: terse message {mine[0]!r}"
            assert not PYTHON_ARGS.search(mine[0]), f"{case.name}: Python argument wording in {mine[0]!r}"
        else:
            assert not mine, f"{case.name}: {mine}"
    ok = [c for c in cases if c not in failed]
    written = sorted(p.name for p in out.iterdir()) if out.exists() else []
    assert not [n for n in written if ".partial" in n], written
    assert len([n for n in written if n.endswith("_ocm.json")]) == len(ok), written
    for name in (n for n in written if n.endswith("_ocm.json")):
        stats = json.loads((out / name).read_text())["statistics"]
        assert stats["valid_pixels"] > 0
        assert abs(sum(stats[f"{k}_percent"] for k in ("clear", "thick_cloud", "thin_cloud",
                                                         "cloud_shadow")) - 100) < 1e-6


GLOBAL_ERRORS = ["weights_empty_folder", "weights_missing", "weights_not_weights", "device_unknown",
                 "info_missing"]


@pytest.mark.parametrize("kind", [pytest.param(k, marks=() if i == 0 else pytest.mark.slow)
                                  for i, k in enumerate(GLOBAL_ERRORS)])
def test_cli_global_errors(kind: str, cli_weights: Path, tmp_path: Path) -> None:
    """Errors before any scene runs: exit 2 and one ``error:`` line, no traceback."""
    good = str(write_tif(tmp_path / "g.tif", scene()))
    empty = tmp_path / "no weights"
    empty.mkdir()
    predict = ("predict", good, "-o", str(tmp_path / "o"), "--weights")
    args = {
        "weights_empty_folder": (*predict, str(empty)),
        "weights_missing": (*predict, str(tmp_path / "missing")),
        "weights_not_weights": (*predict, good),
        "device_unknown": (*predict, str(cli_weights), "--device", "tpu"),
        "info_missing": ("info", str(tmp_path / "missing.tif")),
    }[kind]
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert len(lines[0]) > 50, lines
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("bad", [
    pytest.param(("--bands", "a,b,c")),
    pytest.param(("--bands", "1"), marks=pytest.mark.slow),
    pytest.param(("--resolution", "ten"), marks=pytest.mark.slow),
    pytest.param(("--patch", "x"), marks=pytest.mark.slow),
])
def test_cli_bad_arguments(bad: tuple[str, str], tmp_path: Path) -> None:
    good = str(write_tif(tmp_path / "g.tif", scene()))
    proc = run_cli("predict", good, "-o", str(tmp_path / "o"), *bad)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("ocm predict: error: "), proc.stderr


@pytest.mark.slow
def test_cli_unicode_paths_c_locale(cli_weights: Path, tmp_path: Path) -> None:
    """Spaces and non-ASCII names work even under the C locale."""
    folder = tmp_path / "dossier été ☁"
    folder.mkdir()
    src = write_tif(folder / "scène 雲 1.tif", scene())
    out = folder / "sortie ü"
    proc = run_cli("predict", str(src), "-o", str(out), "--weights", str(cli_weights), "-q",
                   env={"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": ""})
    assert proc.returncode == 0, proc.stderr
    assert (out / "scène 雲 1_ocm.tif").is_file() and (out / "scène 雲 1_ocm.json").is_file()
