"""ocm_engine.batch: scene lists, per-worker model cache, a real 2-worker LocalCluster, worker kill, CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

from ocm_engine.batch import (
    BatchScene,
    SceneJob,
    SceneListError,
    read_stac_items,
    resolve_scenes,
    run_batch,
)
from ocm_engine.errors import Hints, ModelLoadError, OcmError, OutputExistsError, SceneReadError
from ocm_engine.models.cache import model_loads
from ocm_engine.options import InferenceOptions, ReadOptions
from ocm_engine.outputs import atomic
from tests.conftest import write_geotiff

distributed = pytest.importorskip("distributed")

REPO = Path(__file__).resolve().parents[3]
OPTIONS = dict(read=ReadOptions(bands=(3, 2, 4)), options=InferenceOptions(patch_px=64, overlap_px=16), png=False,
               progress=False)


def write_scene(path: Path, seed: int = 0, bands: int = 4) -> Path:
    return write_geotiff(path, bands=bands, seed=seed)


def outputs_of(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "_ocm" in p.name)


@pytest.fixture(scope="module")
def weights(make_weights) -> Path:
    return make_weights(2, seed=1)


@pytest.fixture(scope="module")
def client():
    """A real LocalCluster: 2 worker processes, 1 thread each."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        c.wait_for_workers(2, timeout=120)
        yield c


# --- scene lists (no cluster) -------------------------------------------------------------


def test_same_file_names_in_two_folders_get_distinct_deterministic_ids(tmp_path):
    a = write_scene(tmp_path / "a" / "scene.tif")
    b = write_scene(tmp_path / "b" / "scene.tif")
    c = write_scene(tmp_path / "b" / "other.tif")
    first = resolve_scenes([a, b, c, a])  # `a` twice: processed once
    assert [s.inputs for s in first] == [(str(a),), (str(b),), (str(c),)]
    ids = [s.scene_id for s in first]
    assert len(set(ids)) == 3 and ids[2] == "other"
    assert ids[0].startswith("scene-") and ids[1].startswith("scene-")
    by_glob = {s.inputs: s.scene_id for s in resolve_scenes(str(tmp_path / "*" / "*.tif"))}
    assert by_glob == {s.inputs: s.scene_id for s in first}  # same names whichever way listed


def test_csv_and_stac_lists(tmp_path):
    write_scene(tmp_path / "x.tif")
    for band in ("B04", "B03", "B08"):
        write_scene(tmp_path / "t1" / f"T1_{band}.tif", bands=1)
    csv_path = tmp_path / "list.csv"
    csv_path.write_text("id,href,sensor\nfirst,x.tif,\n,t1,sentinel2_l2a_b08\n"
                        ",https://example.com/data/remote.tif?sig=1,\n")
    scenes = resolve_scenes(csv_path)
    assert [s.scene_id for s in scenes] == ["first", "t1", "remote"]
    assert len(scenes[1].inputs) == 3 and scenes[1].sensor == "sentinel2_l2a_b08"
    assert scenes[2].inputs == ("/vsicurl/https://example.com/data/remote.tif?sig=1",)

    items = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "S2A_T1", "assets": {
            "red": {"href": "t1/T1_B04.tif"}, "green": {"href": "t1/T1_B03.tif"},
            "nir": {"href": str(tmp_path / "t1" / "T1_B08.tif")}, "visual": {"href": "x.tif"}}},
        {"type": "Feature", "id": "S2A_T2", "assets": {
            "red": {"href": "s3://bucket/B04.tif"}, "green": {"href": "s3://bucket/B03.tif"},
            "nir": {"href": "s3://bucket/B08.tif"}, "visual": {"href": "x.tif"}}},
    ]}
    stac = tmp_path / "items.json"
    stac.write_text(json.dumps(items))
    per_band = resolve_scenes(stac)
    assert [s.scene_id for s in per_band] == ["S2A_T1", "S2A_T2"]
    assert per_band[0].bands == (1, 2, 3) and per_band[0].inputs[0] == str(tmp_path / "t1" / "T1_B04.tif")
    assert per_band[1].inputs[2] == "/vsis3/bucket/B08.tif"
    multiband = read_stac_items(stac, assets=["visual"])
    assert multiband[0].inputs == (str(tmp_path / "x.tif"),) and multiband[0].bands is None
    with pytest.raises(SceneListError) as lacking:
        read_stac_items(stac, assets=["red", "green", "swir"])
    assert lacking.value.subject == f"Assets of STAC item 'S2A_T1' in {stac}"
    assert lacking.value.arrived == ["green", "nir", "red", "visual"]
    assert lacking.value.expected == "the assets ['red', 'green', 'swir']"
    cli, python = lacking.value.describe("cli"), str(lacking.value)
    assert "--stac-assets" in cli and "stac_assets=" not in cli
    assert "stac_assets=" in python and "--stac-assets" not in python


def test_bad_lists_raise_actionable_errors(tmp_path):
    pattern = str(tmp_path / "*.tif")
    with pytest.raises(SceneListError) as glob_err:
        resolve_scenes(pattern)
    assert (glob_err.value.subject, glob_err.value.arrived) == (f"Glob {pattern!r}", "no matching files")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,size\na,1\n")
    with pytest.raises(SceneListError) as columns:
        resolve_scenes(bad)
    assert columns.value.subject == f"Columns of {bad}" and columns.value.arrived == ["name", "size"]
    assert "href" in columns.value.expected
    no_href = tmp_path / "no_href.csv"
    no_href.write_text("href,id\n,a\n")
    with pytest.raises(SceneListError) as row:
        resolve_scenes(no_href)
    assert (row.value.subject, row.value.arrived) == (f"Line 2 of {no_href}", "no href")
    with pytest.raises(SceneListError) as empty:
        resolve_scenes([])
    assert (empty.value.subject, empty.value.arrived) == ("Scene list", "no scenes")
    folder = tmp_path / "empty_folder"
    folder.mkdir()
    with pytest.raises(SceneListError) as no_rasters:
        resolve_scenes(folder)
    assert (no_rasters.value.subject, no_rasters.value.arrived) == (f"Folder {folder}", "no raster files")
    with pytest.raises(SceneListError) as keys:
        read_stac_items({"type": "Feature", "id": "x", "assets": {}}, assets=["a", "b", "c", "d"])
    assert (keys.value.subject, keys.value.arrived) == ("STAC asset keys", ["a", "b", "c", "d"])
    with pytest.raises(SceneListError) as not_stac:
        read_stac_items({"type": "Feature"})
    assert not_stac.value.subject == "STAC items in the data given"
    assert not_stac.value.expected == "a STAC Item, ItemCollection or list of Items"
    with pytest.raises(ModelLoadError) as model:
        run_batch([write_scene(tmp_path / "s.tif")], tmp_path / "out", model=object())  # type: ignore[arg-type]
    assert (model.value.subject, model.value.arrived) == ("Batch model", "an object of type object")


# --- a real 2-worker LocalCluster ----------------------------------------------------------


@pytest.mark.slow
def test_batch_on_two_workers_reports_failures_and_skips_on_rerun(tmp_path, weights, client):
    scenes = [write_scene(tmp_path / "in" / f"s{i}.tif", seed=i) for i in range(4)]
    (tmp_path / "in" / "corrupt.tif").write_bytes(b"not a tiff")
    missing = tmp_path / "in" / "missing.tif"
    seen: list[tuple[str, int, int]] = []
    out = tmp_path / "out"
    result = run_batch([*scenes, tmp_path / "in" / "corrupt.tif", missing], out, model=weights,
                       scheduler=client, on_scene=lambda r, i, n: seen.append((r.scene_id, i, n)),
                       **OPTIONS)
    status = {r.scene_id: r.status for r in result.scenes}
    assert status == {"s0": "done", "s1": "done", "s2": "done", "s3": "done",
                      "corrupt": "failed", "missing": "failed"}
    failed = {r.scene_id: r.error for r in result.failed}
    assert failed["corrupt"].startswith("SceneReadError") and "missing.tif" in failed["missing"]
    # the error itself crossed the network with the result, for each front end to word
    corrupt = next(r for r in result.failed if r.scene_id == "corrupt")
    assert isinstance(corrupt.failure, SceneReadError) and corrupt.describe() == corrupt.error
    assert sorted(i for _, i, _ in seen) == list(range(1, 7)) and {n for *_, n in seen} == {6}
    rows = list(csv.DictReader(result.summary_csv.open()))
    assert [r["scene_id"] for r in rows] == ["s0", "s1", "s2", "s3", "corrupt", "missing"]
    assert 0.0 <= float(rows[0]["cloud_percent"]) <= 100.0 and float(rows[0]["seconds"]) > 0
    assert json.loads(result.summary_json.read_text())["batch"]["failed"] == 2
    # models loaded once per worker process, however many scenes it ran
    loads = client.run(model_loads)
    per_worker = [sum(1 for key in v if key[0] == str(weights)) for v in loads.values()]
    assert all(n <= 1 for n in per_worker) and sum(per_worker) >= 1

    stamp = {p: p.stat().st_mtime_ns for p in out.glob("s*_ocm.*")}
    rerun = run_batch([*scenes, missing], out, model=weights, scheduler=client, **OPTIONS)
    assert [r.status for r in rerun.scenes] == ["skipped"] * 4 + ["failed"]
    assert rerun.scenes[0].cloud_percent == result.scenes[0].cloud_percent
    assert {p: p.stat().st_mtime_ns for p in out.glob("s*_ocm.*")} == stamp


@pytest.mark.slow
def test_cli_batch_subprocess(tmp_path, weights, client):
    for i in range(2):
        write_scene(tmp_path / "in" / f"c{i}.tif", seed=i)
    (tmp_path / "in" / "broken.tif").write_bytes(b"nope")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "ocm_engine.cli", "batch", str(tmp_path / "in" / "*.tif"),
           "-o", str(tmp_path / "out"), "--weights", str(weights), "--scheduler",
           client.scheduler.address, "--bands", "3,2,4", "--patch", "64", "--overlap", "16", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr  # one scene failed
    assert "2 done, 0 skipped, 1 failed" in proc.stdout
    assert "failed: broken: SceneReadError" in proc.stderr
    assert (tmp_path / "out" / "c0_ocm.png").is_file()
    assert (tmp_path / "out" / "ocm_batch_summary.csv").is_file()


@pytest.mark.slow
def test_cli_batch_starts_its_own_local_cluster(tmp_path, weights):
    write_scene(tmp_path / "in" / "only.tif")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ocm_engine.cli", "batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
         "--weights", str(weights), "--workers", "1", "--bands", "3,2,4", "--patch", "64",
         "--overlap", "16"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "1 done" in proc.stdout and "Dask" in proc.stderr


def test_batch_scene_objects_pass_through():
    scene = BatchScene("custom", ("/data/x.tif",), (1, 2, 3), "landsat8_9_oli")
    assert resolve_scenes([scene]) == [scene] and scene.source == "/data/x.tif"


@pytest.mark.slow
def test_worker_killed_mid_batch_then_rerun_has_each_scene_once(tmp_path, weights, client):
    marker = tmp_path / "killed-once"
    out = tmp_path / "out"

    class KillOnce(distributed.WorkerPlugin):
        """Dies (like an OOM kill) when it starts the `kill_me` scene, once, after half-writing it."""

        name = "ocm-test-kill-once"

        def transition(self, key, start, finish, **kwargs):
            if finish == "executing" and "kill_me" in str(key) and not marker.exists():
                marker.write_text(str(os.getpid()))
                out.mkdir(exist_ok=True)
                # died while writing: a partial named as the writers name theirs (host, this pid)
                (out / f"kill_me_ocm.tif.{atomic._HOST}-{os.getpid()}-0badc0de.partial").write_bytes(b"half")
                (out / "kill_me_ocm.tif").write_bytes(b"stale")  # ...or between the .tif and the .json
                os._exit(1)

    scenes = [write_scene(tmp_path / "in" / f"s{i}.tif", seed=i) for i in range(2)]
    scenes.insert(1, write_scene(tmp_path / "in" / "kill_me.tif", seed=9))
    client.register_plugin(KillOnce())
    try:
        first = run_batch(scenes, out, model=weights, scheduler=client, **OPTIONS)
    finally:
        client.unregister_worker_plugin(KillOnce.name)
    assert marker.exists(), "the worker was not killed"
    # Dask re-ran the killed scene on the surviving worker, which redid its half-written outputs
    assert {r.scene_id: r.status for r in first.scenes} == dict.fromkeys(["s0", "kill_me", "s1"], "done")
    rerun = run_batch(scenes, out, model=weights, scheduler=client, **OPTIONS)
    assert [r.status for r in rerun.scenes] == ["skipped"] * 3
    expected = sorted(f"{s}_ocm.{ext}" for s in ("s0", "kill_me", "s1") for ext in ("json", "tif"))
    assert outputs_of(out) == expected  # each scene exactly once, no .partial files
    rows = list(csv.DictReader(rerun.summary_csv.open()))
    assert sorted(r["scene_id"] for r in rows) == sorted(["s0", "kill_me", "s1"])
    with rasterio.open(out / "kill_me_ocm.tif") as ds:
        assert ds.read(1).shape == (96, 128)


@pytest.mark.slow
def test_scene_that_always_kills_its_worker_is_reported_failed(tmp_path, weights, client):
    class AlwaysDie(distributed.WorkerPlugin):
        name = "ocm-test-always-die"

        def transition(self, key, start, finish, **kwargs):
            if finish == "executing" and "doomed" in str(key):
                os._exit(1)

    # A worker killed by an earlier test may still be restarting: with one worker up, both
    # scenes would land on the worker that dies, and the fine one would fail with it.
    client.wait_for_workers(2, timeout=180)
    scheduler = client.cluster.scheduler  # in-process for a LocalCluster
    allowed, scheduler.allowed_failures = scheduler.allowed_failures, 0
    client.register_plugin(AlwaysDie())
    try:
        result = run_batch([write_scene(tmp_path / "in" / "doomed.tif"), write_scene(tmp_path / "in" / "fine.tif")],
                           tmp_path / "out", model=weights, scheduler=client, **OPTIONS)
    finally:
        client.unregister_worker_plugin(AlwaysDie.name)
        scheduler.allowed_failures = allowed
    assert [r.status for r in result.scenes] == ["failed", "done"]
    assert result.scenes[0].error.startswith("KilledWorker: every worker that ran this scene died")
    assert result.scenes[0].failure is None and result.scenes[0].describe("cli") == result.scenes[0].error
    client.wait_for_workers(2, timeout=180)


# --- the worker, in-process (no cluster) --------------------------------------------------


def test_process_scene_in_process_uses_the_model_cache_and_options(tmp_path, weights):
    from ocm_engine import InferenceOptions
    from ocm_engine.batch.worker import SceneJob, process_scene
    from ocm_engine.models.cache import cached_ensemble
    from ocm_engine.options import ReadOptions

    good = BatchScene("good", (str(write_scene(tmp_path / "in" / "good.tif")),))
    broken = tmp_path / "in" / "broken.tif"
    broken.write_bytes(b"nope")
    job = SceneJob(str(tmp_path / "out"), str(weights), read=ReadOptions(bands=(3, 2, 4)), png=False,
                   options=InferenceOptions(patch_px=96, overlap_px=16, batch_size=2, device="cpu", dtype="fp32"))
    loads_before = len(model_loads())
    first = process_scene(good, job)
    assert first.status == "done" and first.cloud_percent is not None, first
    assert 0.0 <= first.cloud_percent <= 100.0, first
    assert process_scene(good, job).status == "skipped"
    failed = process_scene(BatchScene("broken", (str(broken),)), job)
    assert failed.status == "failed" and failed.error.startswith("SceneReadError")
    assert isinstance(failed.failure, SceneReadError) and str(broken) in failed.failure.subject
    assert failed.describe() == failed.error == f"SceneReadError: {failed.failure}"
    assert cached_ensemble(str(weights), device="cpu", dtype="fp32") is cached_ensemble(
        str(weights), device="cpu", dtype="fp32")
    assert len(model_loads()) - loads_before <= 1
    doc = json.loads((tmp_path / "out" / "good_ocm.json").read_text())
    assert doc["run"]["options"]["batch_size"] == 2 and doc["run"]["patch_px"] == 96
    # the done result comes from the value predict_file returned; it agrees with the report
    assert first.cloud_percent is not None and first.cloud_percent == round(doc["statistics"]["cloud_percent"], 4)
    assert first.nodata_percent == round(doc["statistics"]["nodata_percent"], 4)


def test_failed_result_keeps_the_error_for_each_front_end(tmp_path) -> None:
    """A failure keeps its OcmError (across pickling, as from a worker); each front end words it."""
    import pickle

    from ocm_engine.batch.runner import write_summary
    from ocm_engine.batch.worker import failed_result

    scene = BatchScene("s", ("/data/s.tif",))
    try:
        try:
            raise OSError("disk")
        except OSError as cause:
            raise OutputExistsError(tmp_path / "s_ocm.tif") from cause
    except OutputExistsError as err:
        result = failed_result(scene, err, seconds=1.5, worker="w0")
    arrived = pickle.loads(pickle.dumps(result))  # what the client gets from a worker
    assert isinstance(arrived.failure, OutputExistsError) and arrived.failure.path == tmp_path / "s_ocm.tif"
    assert arrived.failure.__traceback__ is None and arrived.failure.__cause__ is None  # no frames kept alive
    assert arrived.error == arrived.describe() == arrived.describe("python")
    assert arrived.error.startswith("OutputExistsError: ") and "overwrite=True" in arrived.error
    cli = arrived.describe("cli")
    assert cli.startswith("OutputExistsError: ") and "--overwrite" in cli and "overwrite=True" not in cli
    assert "--overwrite" not in arrived.describe("app")
    assert arrived == result  # the error object takes no part in equality

    other = failed_result(scene, ValueError("plain"))
    assert other.failure is None and other.error == other.describe("cli") == "ValueError: plain"
    unpicklable = OcmError("Thing", arrived=lambda: 0, expected="a value", hints=Hints.same("Fix it."))
    kept_text = failed_result(scene, unpicklable)
    assert kept_text.failure is None and kept_text.error.startswith("OcmError: Thing: got <function")
    assert pickle.loads(pickle.dumps(kept_text)) == kept_text

    csv_path, json_path = write_summary([arrived, other], tmp_path, batch={"failed": 2}, frontend="cli")
    rows = list(csv.DictReader(csv_path.open()))
    assert rows[0]["error"] == cli and rows[0]["inputs"] == "/data/s.tif" and rows[1]["error"] == "ValueError: plain"
    scenes = json.loads(json_path.read_text())["scenes"]
    assert scenes[0]["error"] == cli and "failure" not in scenes[0] and scenes[0]["inputs"] == ["/data/s.tif"]
    write_summary([arrived], tmp_path)  # a Python caller's summary: the Python wording
    assert next(csv.DictReader(csv_path.open()))["error"] == arrived.error


def test_scene_job_carries_read_options_a_scene_overrides() -> None:
    """The job's ReadOptions travel to the workers (pickled) and a scene's own sensor/bands win."""
    import pickle

    from ocm_engine.batch.worker import SceneJob
    from ocm_engine.options import ReadOptions

    job = SceneJob("out", read=ReadOptions(sensor="sentinel2_l2a", bands=[3, 2, 4], nodata=0, resolution_m=20))
    assert pickle.loads(pickle.dumps(job)) == job and job.read.bands == (3, 2, 4)
    own = BatchScene("custom", ("/data/x.tif",), (1, 2, 3), "landsat8_9_oli")
    assert own.read_options(job.read) == ReadOptions("landsat8_9_oli", (1, 2, 3), 0, 20)
    assert BatchScene("plain", ("/data/y.tif",)).read_options(job.read) == job.read


def test_scene_job_keeps_the_old_keywords_for_one_release() -> None:
    with pytest.warns(DeprecationWarning, match=r"pass read=ReadOptions\(sensor='landsat8_9_oli', nodata=0\)"):
        job = SceneJob("out", sensor="landsat8_9_oli", nodata=0)
    assert job.read == ReadOptions(sensor="landsat8_9_oli", nodata=0) and job.options == InferenceOptions()
    with pytest.raises(TypeError, match="read=ReadOptions"):
        SceneJob("out", "default", "landsat8_9_oli")  # type: ignore[arg-type]  # the old positional layout
