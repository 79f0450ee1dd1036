"""The ``ocm`` command: its table of sub-commands, its parser and :func:`main`.

Every sub-command is one row of :data:`COMMANDS`. A row names the module that holds the
command and the function that adds its parser (``adder(subparsers) -> ArgumentParser``, which
sets ``func``, the handler). Only the command being run is imported: ``ocm --help`` lists the
table without importing any command module, and ``ocm predict`` never imports training code
(scipy) or Dask. A row whose module or adder is missing fails loudly (``ImportError`` /
``AttributeError``); nothing is skipped in silence, and a test builds every row.

To add a command (say ``ocm weights``): write ``ocm_engine/cli/weights.py`` with
``add_parser(subparsers)`` (see :mod:`ocm_engine.cli.search` for a small example; keep the
module's top-level imports light and import heavy code inside the handler), then add one
row to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from ocm_engine.errors import OcmError, OcmWarning, one_line

Adder = Callable[[Any], argparse.ArgumentParser]


@dataclass(frozen=True, slots=True)
class Command:
    """One ``ocm`` sub-command.

    Attributes:
        name: The sub-command's name (``ocm <name>``).
        module: Module holding the adder (imported only when this command runs or is listed in full).
        adder: Name of the function in ``module`` that adds the sub-parser.
        help: One line for ``ocm --help``.
    """

    name: str
    module: str
    adder: str
    help: str

    def load(self) -> Adder:
        """The adder function (imports :attr:`module`).

        Raises:
            ImportError: The module is missing or fails to import.
            AttributeError: The module has no such adder.
        """
        adder: Adder = getattr(importlib.import_module(self.module), self.adder)
        return adder


#: The ``ocm`` sub-commands, in ``ocm --help`` order. Add a command here (one row).
COMMANDS: tuple[Command, ...] = (
    Command("predict", "ocm_engine.cli.predict", "add_parser", "mask clouds and shadows in scenes"),
    Command("batch", "ocm_engine.cli.batch", "add_parser",
            "mask many scenes on a Dask cluster (local by default); resumable"),
    Command("search", "ocm_engine.cli.search", "add_parser",
            "find scenes in a STAC catalog by place, dates and cloud cover"),
    Command("sensors", "ocm_engine.cli.info", "add_sensors_parser", "list sensor presets"),
    Command("info", "ocm_engine.cli.info", "add_info_parser", "describe a raster file"),
    Command("weights", "ocm_engine.cli.weights", "add_parser",
            "list installed weights; download or verify the official OmniCloudMask v4 pair"),
    Command("evaluate", "ocm_engine.cli.train", "add_evaluate_parser",
            "per-class precision/recall/F1/IoU against label rasters"),
    Command("train", "ocm_engine.cli.train", "add_train_parser",
            "pack data, train a member, or export members as the default ensemble"),
)


def build_parser(full: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``ocm`` command.

    Args:
        full: Names of the sub-commands whose full parsers to build; the others are listed by
            name and help only, so their modules are not imported. ``None``: all of them.

    Returns:
        The parser; parsed arguments carry ``func``, the sub-command's handler.
    """
    parser = argparse.ArgumentParser(prog="ocm", description="Sensor-agnostic cloud and cloud-shadow masking.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for row in COMMANDS:
        if full is None or row.name in full:
            added = row.load()(sub)
            if added.prog.split()[-1] != row.name:
                raise RuntimeError(f"{row.module}.{row.adder} added {added.prog!r}, not the table's {row.name!r}")
        else:
            sub.add_parser(row.name, help=row.help, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv`` (its first argument), if it is one of the table's."""
    names = {row.name for row in COMMANDS}
    return argv[0] if argv and argv[0] in names else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ocm`` command; returns the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    name = _command_of(args_list)
    args = build_parser({name} if name else set()).parse_args(args_list)
    if name is None:  # argparse exits on --help and on an unknown command; this is a safety net
        raise SystemExit(2)
    warnings.simplefilter("always", OcmWarning)
    warnings.formatwarning = lambda msg, cat, *_a, **_k: f"warning: {msg}\n"
    try:
        return int(args.func(args))
    except OcmError as err:
        print(f"error: {one_line(err, frontend='cli')}", file=sys.stderr)
        return 2
