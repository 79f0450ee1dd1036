"""The training command line: its shortcuts are discoverable and bad input fails clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocm_engine.training.cli import main


def test_help_lists_every_shortcut(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for command in ("pack", "export", "validate", "heldout", "curve", "failures"):
        assert f"\n  {command} " in out, command


def test_failures_without_packed_scenes_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["failures", "--model", "default", "--pack-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"Packed-scene folder {tmp_path}" in err
