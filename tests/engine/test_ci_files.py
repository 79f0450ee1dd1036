"""CI checks the README's own set-up: the lines it reads exist, and its smoke checks need no test package."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEST_ONLY = {"pytest", "hypothesis", "selenium", "omnicloudmask", "ukis_csmask", "onnxruntime", "nbclient", "tests"}


def _pattern(script: str, marker: str) -> str:
    line = next(line for line in (REPO / ".ci" / script).read_text().splitlines() if marker in line)
    return re.search(r"grep -m1 -E '([^']+)'", line).group(1)  # type: ignore[union-attr]


def test_ci_reads_the_readme_commands() -> None:
    readme = (REPO / "README.md").read_text()
    for script, marker in (("smoke_install", "readme_cmd="), ("run", "test_cmd=")):
        found = subprocess.run(["grep", "-m1", "-E", _pattern(script, marker)], input=readme, text=True,
                               capture_output=True, check=False).stdout.strip()
        assert found and found in readme, script
    run = (REPO / ".ci" / "run").read_text()
    assert run.index("bash .ci/smoke_install") < run.index('bash -c "set -euo pipefail; $test_cmd"')
    assert "requirements-dev" not in (REPO / ".ci" / "smoke_install").read_text().replace(
        "requirements-dev.txt is never installed", "")


def test_smoke_checks_import_no_test_package() -> None:
    tree = ast.parse((REPO / ".ci" / "smoke_checks.py").read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                 and node.module}
    assert not imported & TEST_ONLY
