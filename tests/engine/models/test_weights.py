"""The weight-spec registry: official and default specs, checksums verified on load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ocm_engine.errors import WeightsCorruptError
from ocm_engine.models import sources
from ocm_engine.models.registry import MODEL_SPECS
from ocm_engine.models.weights import (
    OFFICIAL_WEIGHTS,
    WeightSpec,
    default_weights,
    file_sha256,
    verify_weights,
)


def test_official_specs_name_registered_architectures():
    assert {s.arch for s in OFFICIAL_WEIGHTS.values()} == {"regnety_004", "edgenext_small"}
    for spec in OFFICIAL_WEIGHTS.values():
        assert spec.file == MODEL_SPECS[spec.arch].official_file and spec.meta["bands"] == "red,green,nir"


def test_packaged_default_manifest_reads():
    specs, meta = default_weights(sources.DEFAULT_WEIGHTS_DIR)
    assert specs and all(s.arch in MODEL_SPECS for s in specs) and meta.get("version")
    assert all((sources.DEFAULT_WEIGHTS_DIR / s.file).is_file() for s in specs)


def test_checksums_are_verified(make_weights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    src = make_weights(1, seed=3)
    file = next(src.iterdir())
    folder = tmp_path / "pkg"
    folder.mkdir()
    shutil.copy(file, folder / file.name)
    good = file_sha256(file)
    verify_weights(WeightSpec(key="x", arch="test_resnet", file=file.name, sha256=good), file)
    manifest = {"name": "t", "version": "9", "members": [{"arch": "test_resnet", "file": file.name,
                                                           "sha256": "0" * 64}]}
    (folder / "ensemble.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(sources, "DEFAULT_WEIGHTS_DIR", folder)
    with pytest.raises(WeightsCorruptError) as corrupt:
        sources.default_paths()
    assert corrupt.value.subject == f"Weights file {folder / file.name}"
    assert str(corrupt.value.arrived).startswith(f"sha256 {good[:12]}...")
    assert corrupt.value.expected == "sha256 000000000000... (the registered weights t/test_resnet)"
    manifest["members"][0]["sha256"] = good
    (folder / "ensemble.json").write_text(json.dumps(manifest))
    members, meta = sources.default_paths()
    assert members == [("test_resnet", folder / file.name)] and meta["version"] == "9"
