"""Where the tests find the real BEIR SciFact: a local copy, or BEIR's own download.

The tests that check the project against the real SciFact (Pyserini's published BM25 numbers,
the pinned checksums) take the first of these that exists:

1. `../shared/data/beir-scifact`, the copy beside this project's development checkout;
2. `results/downloads/beir/scifact`, what `make scifact` downloaded (rule download_beir);
3. the test cache, `$CROSSOPT_TEST_DATA` or `~/.cache/crossopt-tests`, `beir/scifact` inside it,
   filled here on first use by `crossopt.sources.download_beir`: BEIR v1.0.0's public zip, with
   the md5 and the four sha256 pins of config/scifact.yaml (a zip of a few MB; the corpus alone
   is 8.1 MB unpacked).

A folder is used only when every pinned file in it has its sha256. Where the download cannot be
made (no network, or CROSSOPT_OFFLINE=1) the test skips and says which sources it tried; a
download whose bytes do not match the pins fails the test instead, since that is a real problem.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import ROOT

SHARED_COPY = ROOT.parent / "shared" / "data" / "beir-scifact"
WORKFLOW_DOWNLOAD = ROOT / "results" / "downloads" / "beir" / "scifact"


def pinned_download() -> dict:
    """config/scifact.yaml's `download` block of the SciFact test set: url, md5, sha256."""
    from crossopt.config import read_config_file

    return read_config_file(ROOT / "config" / "scifact.yaml")["testsets"]["scifact"]["download"]


def test_cache() -> Path:
    base = os.environ.get("CROSSOPT_TEST_DATA") or Path.home() / ".cache" / "crossopt-tests"
    return Path(base) / "beir" / "scifact"


@lru_cache(maxsize=1)
def _locate() -> tuple[Path | None, str]:
    """The folder, or None with the reason a test gives for skipping."""
    # download_beir's own test of a folder it would not download again
    from crossopt.sources import DownloadError, _beir_folder_matches, download_beir

    pins = pinned_download()
    for folder in (SHARED_COPY, WORKFLOW_DOWNLOAD, test_cache()):
        if _beir_folder_matches(folder, pins["sha256"]):
            return folder, ""
    tried = f"no copy with the pinned files at {SHARED_COPY}, {WORKFLOW_DOWNLOAD} or {test_cache()}"
    if os.environ.get("CROSSOPT_OFFLINE") == "1":
        return None, f"BEIR SciFact: {tried}, and CROSSOPT_OFFLINE=1 forbids the download"
    try:
        download_beir(pins["url"], pins["sha256"], test_cache(), md5=pins.get("md5"))
    except DownloadError as error:  # no network, or the server refused: not the project's fault
        return None, f"BEIR SciFact: {tried}, and the download failed: {error}"
    return test_cache(), ""


def real_scifact() -> Path:
    """The real BEIR SciFact folder (corpus.jsonl, queries.jsonl, qrels/), or a skip that says why.
    A downloaded archive or file that does not match its pin raises (HashMismatch): a failure."""
    folder, reason = _locate()
    if folder is None:
        pytest.skip(reason)
    return folder
