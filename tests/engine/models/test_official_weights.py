"""The official-weights resolver and downloader, against a loopback hub (nothing leaves the machine).

The pinned specs are swapped for tiny ``test_resnet`` members under the official file names, so
every path (download, resume, verify, discovery, load) runs end to end in well under a second each.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from ocm_engine import load_ensemble
from ocm_engine.errors import ModelLoadError, WeightsCorruptError, WeightsDownloadError, WeightsOfflineError
from ocm_engine.models import hub, official
from ocm_engine.models import weights as registry
from tests.helpers.hub_server import HubServer, tiny_official_specs


@pytest.fixture
def payloads(make_weights: Callable[..., Path]) -> list[bytes]:
    """Two tiny member files' bytes (stand-ins for the official pair)."""
    return [p.read_bytes() for p in sorted(make_weights(2, seed=5).iterdir())]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, payloads: list[bytes]) -> Path:
    """An empty home folder, no weights variables, and the official pins swapped for the tiny pair."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    for var in ("OCM_WEIGHTS_DIR", "XDG_DATA_HOME", "LOCALAPPDATA", "HF_HUB_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(registry, "OFFICIAL_WEIGHTS", tiny_official_specs(payloads))
    return home


@pytest.fixture
def hub_server(home: Path, payloads: list[bytes], monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """The loopback hub serving the tiny pair at the pinned repository and revision."""
    with HubServer(registry.HUB_REPO_ID, registry.HUB_REVISION) as server:
        for spec, data in zip(official.official_specs(), payloads, strict=True):
            server.add(spec.file, data)
        monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
        yield server


def _names() -> list[str]:
    return [s.file for s in official.official_specs()]


def test_clean_download_with_progress_then_load(hub_server: HubServer, home: Path) -> None:
    seen: list[hub.DownloadProgress] = []
    found = official.download_official(progress=seen.append)
    cache = home / ".cache" / "ocm_studio" / "weights"
    assert found.location.folder == cache and found.location.kind == "cache" and found.location.complete
    assert sorted(p.name for p in cache.iterdir()) == sorted(_names())  # no *.incomplete left
    for index, spec in enumerate(official.official_specs()):
        mine = [p for p in seen if p.file_index == index]
        assert mine[0].done_bytes == 0 and mine[-1].done_bytes == spec.size_bytes
        assert [p.done_bytes for p in mine] == sorted(p.done_bytes for p in mine)
    paths = [path for path, _range in hub_server.requests]
    assert paths == [f"/{registry.HUB_REPO_ID}/resolve/{registry.HUB_REVISION}/{n}" for n in _names()]
    ens = load_ensemble("official", device="cpu", dtype="fp32")
    assert ens.source == "official-v4" and len(ens.members) == 2
    assert ens.metadata["weights_revision"] == registry.HUB_REVISION
    assert ens.metadata["weights_sha256"].count(":") == 2 and ens.metadata["weights_source"] == "cache"


def test_interrupted_transfer_resumes_with_range(hub_server: HubServer, home: Path, payloads: list[bytes]) -> None:
    first = _names()[0]
    hub_server.files[first].cut_after = 10_000
    with pytest.raises(WeightsDownloadError) as cut:
        official.download_official()
    assert "kept for a resume" in str(cut.value.arrived) and first in cut.value.subject
    cache = home / ".cache" / "ocm_studio" / "weights"
    partial = cache / (first + hub.PARTIAL_SUFFIX)
    assert partial.stat().st_size == 10_000 and not (cache / first).exists()
    with pytest.raises(ModelLoadError) as missing:  # a partial file is never loaded
        load_ensemble("official", device="cpu")
    assert missing.value.arrived == "no installed pair"
    official.download_official()
    assert (cache / first).read_bytes() == payloads[0] and not partial.exists()
    assert (hub_server.requests[-2][1], hub_server.requests[-1][1]) == ("bytes=10000-", None)


def test_404_is_one_clear_line(hub_server: HubServer) -> None:
    del hub_server.files[_names()[1]]
    with pytest.raises(WeightsDownloadError) as err:
        official.download_official()
    assert err.value.arrived == "HTTP 404" and err.value.subject.endswith(f"/{_names()[1]}")
    assert "\n" not in str(err.value) and "copy" in err.value.hint("cli")


def test_stalled_transfer_ends_in_bounded_time(hub_server: HubServer, home: Path) -> None:
    hub_server.files[_names()[0]].stall_after = 8192
    start = time.monotonic()
    with pytest.raises(WeightsDownloadError) as err:
        official.download_official(stall_timeout_s=0.5)
    assert time.monotonic() - start < 10  # 0.5 s of silence, generous for a loaded 2-core machine
    assert str(err.value.arrived).startswith("a stalled transfer: nothing for 0.5 s")
    assert _names()[0] in err.value.subject and isinstance(err.value.__cause__, requests.exceptions.Timeout)
    assert str(home / ".cache" / "ocm_studio" / "weights") in err.value.hint("app")  # where to copy by hand


def test_wrong_file_is_not_kept(hub_server: HubServer, home: Path, payloads: list[bytes]) -> None:
    wrong = bytearray(payloads[0])
    wrong[-1] ^= 0xFF
    hub_server.add(_names()[0], bytes(wrong))
    with pytest.raises(WeightsDownloadError) as err:
        official.download_official()
    assert str(err.value.arrived).startswith("SHA-256 ") and str(err.value.arrived).endswith("(not kept)")
    cache = home / ".cache" / "ocm_studio" / "weights"
    assert not any(p.name.startswith(_names()[0]) for p in cache.iterdir())


def test_offline_mode_is_one_line_and_fetches_nothing(hub_server: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsOfflineError) as err:
        load_ensemble("official", download=True, device="cpu")
    assert err.value.arrived == "HF_HUB_OFFLINE set"
    assert "\n" not in str(err.value) and not hub_server.requests


def test_unreachable_hub_is_clear(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused
    with pytest.raises(WeightsDownloadError) as err:
        official.download_official(stall_timeout_s=2)
    assert str(err.value.arrived).startswith("a failed request (ConnectionError;")
    assert isinstance(err.value.__cause__, requests.exceptions.ConnectionError)


@pytest.mark.parametrize("layout", ["linux_xdg", "linux_default", "macos", "windows"])
def test_reference_package_folders_are_found(home: Path, payloads: list[bytes], layout: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    roots = {
        "linux_xdg": home / "xdg" / "omnicloudmask",
        "linux_default": home / ".local" / "share" / "omnicloudmask",
        "macos": home / "Library" / "Application Support" / "omnicloudmask",
        "windows": home / "AppData" / "Local" / "omnicloudmask" / "omnicloudmask",
    }
    if layout == "linux_xdg":
        monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))
    release = roots[layout] / "1.7.0"
    release.mkdir(parents=True)
    for name, data in zip(_names(), payloads, strict=True):
        (release / name).write_bytes(data)
    found = official.resolve_official()
    assert found.location.folder == release and found.location.kind == "reference"
    if layout == "linux_default":  # one full load is enough: the resolver is the loader's only way in
        assert load_ensemble("official", device="cpu").metadata["weights_source"] == "reference"


def test_corrupt_file_in_reference_folder_is_reported_not_loaded(home: Path, payloads: list[bytes]) -> None:
    newer = home / ".local" / "share" / "omnicloudmask" / "1.8.1"
    older = home / ".local" / "share" / "omnicloudmask" / "1.7.2"
    for folder in (newer, older):
        folder.mkdir(parents=True)
        for name, data in zip(_names(), payloads, strict=True):
            (folder / name).write_bytes(data)
    broken = bytearray(payloads[1])
    broken[100] ^= 0xFF  # same size, other digest
    (newer / _names()[1]).write_bytes(bytes(broken))
    found = official.resolve_official()
    assert found.location.folder == older  # the corrupt newer release is skipped
    assert [loc.state for loc in found.searched] == ["missing", "corrupt", "found"]
    (older / _names()[0]).write_bytes(payloads[0][:-5])  # truncated
    with pytest.raises(ModelLoadError) as err:
        load_ensemble("official", device="cpu")
    found = str(err.value.arrived)
    assert found.startswith("no complete, verified pair (found: ") and f"{_names()[1]} corrupt" in found
    assert f"{_names()[0]} corrupt" in found  # the truncated file in the older release
    assert err.value.hint("python").startswith("Delete the corrupt file(s), then run") and "\n" not in str(err.value)


def test_explicit_folder_is_verified_on_every_load(tmp_path: Path, home: Path, payloads: list[bytes]) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    for name, data in zip(_names(), payloads, strict=True):
        (folder / name).write_bytes(data)
    assert load_ensemble("official", weights_dir=folder, device="cpu").metadata["weights_source"] == "explicit"
    damaged = bytearray(payloads[0])
    damaged[50] ^= 0xFF
    (folder / _names()[0]).write_bytes(bytes(damaged))
    os.utime(folder / _names()[0], ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime: hashed again
    with pytest.raises(ModelLoadError) as err:
        official.resolve_official(folder)
    assert f"{_names()[0]} corrupt" in str(err.value.arrived)


def test_digests_are_cached_by_path_size_and_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 1000)
    calls: list[int] = []
    real = registry.hashlib.sha256

    def counting(*args: object) -> object:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(registry.hashlib, "sha256", counting)
    first = registry.file_sha256(path)
    assert registry.file_sha256(path) == first and len(calls) == 1
    path.write_bytes(b"y" * 1001)
    assert registry.file_sha256(path) != first and len(calls) == 2


def test_weights_identity_reaches_outputs(hub_server: HubServer, make_geotiff: Callable[..., Path],
                                          tmp_path: Path) -> None:
    import json

    import rasterio

    from ocm_engine.options import ReadOptions
    from ocm_engine.pipeline import predict_file

    official.download_official()
    ens = load_ensemble("official", device="cpu", dtype="fp32")
    src = make_geotiff(bands=3, height=64, width=64)
    out = predict_file(src, tmp_path / "out", ensemble=ens, read=ReadOptions(bands=(1, 2, 3)), png=False)
    with rasterio.open(out) as ds:
        tags = ds.tags()
    assert tags["OCM_WEIGHTS_REVISION"] == registry.HUB_REVISION
    assert tags["OCM_WEIGHTS_SHA256"] == ens.metadata["weights_sha256"] and tags["OCM_VERSION"]
    weights = json.loads(out.paths.stats.read_text())["provenance"]["weights"]
    assert weights == {"name": f"{registry.HUB_REPO_ID} v4", "revision": registry.HUB_REVISION,
                       "sha256": ens.metadata["weights_sha256"]}


def test_pinned_facts_match_the_reference() -> None:
    """The real pins (not the test's): repository, revision, sizes and digests of the v4 pair."""
    pins = {s.arch: (s.size_bytes, s.sha256) for s in registry.OFFICIAL_WEIGHTS.values()}
    assert registry.HUB_REPO_ID == "NickWright/OmniCloudMask"
    assert registry.HUB_REVISION == "c9a4fb88188709127aa25cfe51ae7fd41b0132f8"
    assert pins["edgenext_small"] == (30_711_472, "d5fe67ad00f6fdb73eb8382ad925849e97fb82cedb46225344afff1a734a9c1d")
    assert pins["regnety_004"] == (27_094_520, "7f6e4202e17ee73efa4aba7abb5c34f4f90a9f7eb42480820714994dff2db660")


def test_corrupt_error_type(tmp_path: Path, home: Path, payloads: list[bytes]) -> None:
    spec = official.official_specs()[0]
    path = tmp_path / spec.file
    path.write_bytes(payloads[0][:10])
    with pytest.raises(WeightsCorruptError) as err:
        registry.verify_weights(spec, path)
    assert (err.value.subject, err.value.arrived) == (f"Weights file {path}",
                                                      "10 bytes (corrupt, truncated or another version)")
    assert err.value.expected == f"{spec.size_bytes:,} bytes (the registered weights {spec.key})"


def test_cli_weights_lists_downloads_and_verifies(hub_server: HubServer, home: Path, payloads: list[bytes],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from ocm_engine.cli.main import main

    reference = home / ".local" / "share" / "omnicloudmask" / "1.8.1"
    reference.mkdir(parents=True)
    (reference / _names()[0]).write_bytes(payloads[0][:-1])  # truncated leftover of the reference package
    assert main(["weights"]) == 0
    listed = capsys.readouterr().out
    assert "default   found" in listed and "ocm weights --download" in listed
    assert f"official  corrupt  {reference}" in listed and "expected" in listed
    assert main(["weights", "--verify"]) == 1
    capsys.readouterr()
    assert main(["weights", "--download"]) == 0
    out, err = capsys.readouterr()
    cache = home / ".cache" / "ocm_studio" / "weights"
    assert f"official  found    {cache}" in out and "official weights" in err  # the tqdm bar's label
    assert main(["weights", "--verify"]) == 0
    assert f"{cache} (this project's cache): complete  <- used" in capsys.readouterr().out


@pytest.mark.slow  # a whole `ocm predict` run
def test_cli_predict_download_flag(hub_server: HubServer, home: Path, make_geotiff: Callable[..., Path],
                                   tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from ocm_engine.cli.main import main

    src = make_geotiff(bands=3, height=64, width=64)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["predict", str(src), "-o", str(tmp_path / "o"), "--weights", "official", "--download",
                 "--bands", "1,2,3", "--device", "cpu", "--quiet"]) == 2
    line = capsys.readouterr().err
    assert line.startswith("error: Download of ") and ": got HF_HUB_OFFLINE set; expected" in line
    assert line.count("\n") == 1
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert main(["predict", str(src), "-o", str(tmp_path / "o"), "--weights", "official", "--download",
                 "--bands", "1,2,3", "--device", "cpu", "--quiet", "--no-png"]) == 0
    assert (home / ".cache" / "ocm_studio" / "weights" / _names()[1]).is_file()
