"""The ``ocm`` command line (entry point ``ocm = "ocm_engine.cli:main"``).

One module per sub-command (``predict``, ``batch``, ``search``, ``info``, ``train``), options
shared between them in :mod:`ocm_engine.cli.options`, and the table of sub-commands in
:mod:`ocm_engine.cli.main` (add a command there). ``python -m ocm_engine`` and
``python -m ocm_engine.cli`` run :func:`main`.
"""

from ocm_engine.cli.main import COMMANDS, Command, build_parser, main

__all__ = ["COMMANDS", "Command", "build_parser", "main"]
