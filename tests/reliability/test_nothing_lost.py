"""Nothing lost: atomic outputs, resumable batches, no silent overwrites.

* a failure at any step of writing leaves no file at all (no final name, no partial);
* the JSON statistics (the completion marker) is moved into place last;
* ``ocm predict`` killed with SIGKILL mid-batch leaves only complete, readable files under
  final names; the rerun skips completed scenes and finishes the rest; ``--overwrite``
  redoes them;
* two writers racing for one output: one wins, the other gets ``OutputExistsError``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

import ocm_engine.outputs.atomic as export_module
import ocm_engine.pipeline as pipeline_module
from ocm_engine import errors, predict_file
from ocm_engine.options import ReadOptions

from .conftest import REPO, run_cli
from .corpus import scene, write_tif


def _final_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".partial" not in p.name) if folder.exists() else []


@pytest.mark.parametrize("step", ["execute", "finish_class_dataset", "write_png", "write_report"])
def test_failure_mid_write_leaves_nothing(step: str, tiny_ensemble: Any, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    src = write_tif(tmp_path / "s.tif", scene())
    target: Any = pipeline_module._Run if step == "execute" else pipeline_module
    original = getattr(target, step)

    def explode(*args: Any, **kwargs: Any) -> Any:
        original(*args, **kwargs)  # write the partial file(s) first, then fail
        raise RuntimeError(f"simulated crash in {step}")

    monkeypatch.setattr(target, step, explode)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated crash"):
        predict_file(src, out, ensemble=tiny_ensemble, probabilities=True)
    assert not out.exists() or list(out.iterdir()) == []


def test_json_marker_is_moved_last(tiny_ensemble: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    original = export_module._commit

    def record(partial: Path, path: Path, overwrite: bool) -> None:
        order.append(path.name)
        original(partial, path, overwrite)

    monkeypatch.setattr(export_module, "_commit", record)
    predict_file(write_tif(tmp_path / "s.tif", scene()), tmp_path / "out", ensemble=tiny_ensemble,
                 probabilities=True)
    final = [name for name in order if not name.endswith(".partial")]
    assert final[-1] == "s_ocm.json" and len(final) == 4, order


def test_incomplete_outputs_are_named_as_such(tiny_ensemble: Any, tmp_path: Path) -> None:
    src = write_tif(tmp_path / "s.tif", scene())
    out = tmp_path / "out"
    path = predict_file(src, out, ensemble=tiny_ensemble).path
    with pytest.raises(errors.OutputExistsError) as complete:
        predict_file(src, out, ensemble=tiny_ensemble)
    assert complete.value.incomplete == () and complete.value.path.parent == out
    path.with_suffix(".json").unlink()  # as if killed between the moves
    with pytest.raises(errors.OutputExistsError) as partial:
        predict_file(src, out, ensemble=tiny_ensemble)
    assert path.name in partial.value.incomplete and partial.value.report_name == path.with_suffix(".json").name
    predict_file(src, out, ensemble=tiny_ensemble, overwrite=True)
    assert path.with_suffix(".json").is_file()


def test_racing_writers_one_wins(tiny_ensemble: Any, tmp_path: Path) -> None:
    src = write_tif(tmp_path / "s.tif", scene(height=96, width=96))
    out = tmp_path / "out"
    outcomes: list[str] = []
    barrier = threading.Barrier(3)

    def work() -> None:
        barrier.wait()
        try:  # explicit bands: a guess warns, and warnings are errors in ocm_engine's tests
            predict_file(src, out, ensemble=tiny_ensemble, read=ReadOptions(bands=(1, 2, 3)))
            outcomes.append("ok")
        except errors.OutputExistsError:
            outcomes.append("exists")
        except Exception as err:
            outcomes.append(repr(err))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["exists", "exists", "ok"], outcomes
    assert not [p for p in out.iterdir() if ".partial" in p.name]
    json.loads((out / "s_ocm.json").read_text())


def _check_complete(folder: Path) -> set[str]:
    """Every final-named file opens; returns the stems whose JSON marker exists."""
    done = set()
    for path in _final_files(folder):
        if path.suffix == ".json":
            json.loads(path.read_text())
            done.add(path.name.removesuffix("_ocm.json"))
        elif path.suffix == ".tif":
            with rasterio.open(path) as ds:
                assert np.isfinite(ds.read(1).astype(float)).any()
        elif path.suffix == ".png":
            from PIL import Image

            with Image.open(path) as img:
                img.load()
    for stem in done:
        for suffix in ("_ocm.tif", "_ocm_probabilities.tif", "_ocm.png"):
            assert (folder / f"{stem}{suffix}").is_file(), f"{stem}: JSON without {suffix}"
    return done


def _writing_next_scene(folder: Path) -> bool:
    """True once a scene is complete and another scene's partial files exist."""
    if not folder.is_dir():
        return False
    names = [p.name for p in folder.iterdir()]
    done = {n.removesuffix("_ocm.json") for n in names if n.endswith("_ocm.json")}
    writing = {n.split("_ocm", 1)[0] for n in names if n.endswith(".partial")}
    return bool(done) and bool(writing - done)


@pytest.mark.slow
def test_sigkill_mid_batch_then_resume(cli_weights: Path, tmp_path: Path) -> None:
    inputs = [str(write_tif(tmp_path / f"scene {i}.tif", scene(height=384, width=384, seed=i)))
              for i in range(6)]
    out = tmp_path / "out"
    args = ["predict", *inputs, "-o", str(out), "--weights", str(cli_weights), "-q",
            "--probabilities", "--patch", "128", "--overlap", "32"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "ocm_engine", *args], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Kill on a file event, not after a guessed delay: once one scene is complete (its JSON
        # marker exists) and the next scene's partial files have appeared, the kill lands
        # inside that scene's writes.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not _writing_next_scene(out):
            time.sleep(0.005)
        assert proc.poll() is None, "the batch finished before it could be killed; make scenes larger"
        assert _writing_next_scene(out), "no scene was being written within 120 s"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
    done_before = _check_complete(out)
    assert 1 <= len(done_before) < len(inputs), done_before
    mtimes = {p.name: p.stat().st_mtime_ns for p in _final_files(out)}

    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    skipped = [line for line in again.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == len(done_before), again.stderr
    assert "Traceback" not in again.stderr
    done_after = _check_complete(out)
    assert len(done_after) == len(inputs)
    for name, mtime in mtimes.items():
        if name.removesuffix(".json").removesuffix(".tif").removesuffix(".png").removesuffix(
                "_probabilities").removesuffix("_ocm") in done_before:
            assert (out / name).stat().st_mtime_ns == mtime, f"{name} was rewritten without --overwrite"
    assert not [p.name for p in out.iterdir() if ".partial" in p.name], "stale partials were not removed"

    redo = run_cli(*args, "--overwrite")
    assert redo.returncode == 0, redo.stderr
    assert not [line for line in redo.stderr.splitlines() if line.startswith("skipped ")]
    assert len([line for line in redo.stdout.splitlines() if "_ocm.tif" in line]) == len(inputs)
    assert _check_complete(out) == done_after


def test_cli_refuses_colliding_outputs(cli_weights: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from ocm_engine.cli import main

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = write_tif(tmp_path / "a" / "scene.tif", scene())
    two = write_tif(tmp_path / "b" / "scene.tif", scene(seed=2))
    code = main(["predict", str(one), str(two), "-o", str(tmp_path / "out"), "--weights", str(cli_weights)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: Output names scene_ocm.* in ") and err.count("\n") == 1, err
    assert f"got two inputs: {one} and {two}" in err, err
    assert not (tmp_path / "out").exists()
