"""The ``ocm`` command's package: an explicit table, lazy commands, library packages free of CLI glue."""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.abc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[3] / "ocm_engine"
#: Installed for tests only (requirements-dev.txt) or heavy, optional at import: no command may need them
#: to build its parser, and ``ocm --help`` / ``ocm predict`` must run without them.
BLOCKED = ("scipy", "dask", "distributed", "pystac_client", "hypothesis", "omnicloudmask", "ukis_csmask")
#: Modules re-imported under the block (so a cached import cannot hide a dependency).
FRESH = ("ocm_engine.cli", "ocm_engine.training", "ocm_engine.batch")


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        if fullname.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked by the test)", name=fullname)
        return None


@pytest.fixture
def without_optional_packages() -> Iterator[None]:
    """Make the blocked packages unimportable and re-import the CLI, training and batch packages."""
    def ours(name: str) -> bool:
        return name.split(".")[0] in BLOCKED or any(name == p or name.startswith(p + ".") for p in FRESH)

    import ocm_engine

    saved = {name: mod for name, mod in sys.modules.items() if ours(name)}
    attributes = {name: getattr(ocm_engine, name) for name in ("cli", "training", "batch") if hasattr(ocm_engine, name)}
    for name in saved:
        del sys.modules[name]
    blocker = _Blocker()
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)
        for name in [n for n in sys.modules if ours(n)]:
            del sys.modules[name]
        sys.modules.update(saved)
        for name, module in attributes.items():
            setattr(ocm_engine, name, module)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.usefixtures("without_optional_packages")
def test_help_and_every_parser_build_without_training_or_dask(capsys: pytest.CaptureFixture[str]) -> None:
    from ocm_engine.cli import COMMANDS, build_parser, main

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    listed = capsys.readouterr().out
    for row in COMMANDS:
        assert f"\n    {row.name} " in listed, row.name
    assert not [m for m in sys.modules if m.startswith("ocm_engine.training.")]
    for row in COMMANDS:  # each command's own --help, one at a time (as a user runs them)
        with pytest.raises(SystemExit) as stop:
            main([row.name, "--help"])
        assert stop.value.code == 0, row.name
        assert f"usage: ocm {row.name}" in capsys.readouterr().out
    subs = _subcommands(build_parser())
    assert list(subs) == [row.name for row in COMMANDS]
    for name, sub in subs.items():
        assert callable(sub.get_default("func")), name
    assert "ocm_engine.training.train" not in sys.modules and "scipy" not in sys.modules


def test_a_broken_row_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    cli_main = importlib.import_module("ocm_engine.cli.main")  # the module (the package exports main())
    rows = (*cli_main.COMMANDS, cli_main.Command("bogus", "ocm_engine.cli.info", "add_bogus_parser", "x"))
    monkeypatch.setattr(cli_main, "COMMANDS", rows)
    with pytest.raises(AttributeError, match="add_bogus_parser"):
        cli_main.build_parser()


def test_sensors_and_predict_args_still_parse() -> None:
    from ocm_engine.cli import build_parser

    args = build_parser().parse_args(["predict", "a.tif", "-o", "out", "--bands", "3,2", "--tta"])
    assert args.bands == [3, 2, None] and args.tta and args.command == "predict"
    args = build_parser().parse_args(["batch", "x", "-o", "o", "--bbox", "13.3,52.4,13.5,52.6"])
    assert args.bbox == (13.3, 52.4, 13.5, 52.6)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("package", ["stac", "batch"])
def test_library_packages_hold_no_cli_glue(package: str) -> None:
    for path in sorted((ENGINE / package).glob("*.py")):
        assert not any(m == "ocm_engine.cli" or m.startswith("ocm_engine.cli.") or m == "argparse"
                       for m in _imports(path)), path.name
    assert not (ENGINE / package / "cli.py").exists()


def test_one_raster_suffix_list() -> None:
    defined = [p.relative_to(ENGINE) for p in ENGINE.rglob("*.py") if "RASTER_SUFFIXES = " in p.read_text()
               or "RASTER_SUFFIXES: " in p.read_text()]
    assert defined == [Path("constants.py")]
