"""The BEIR download (crossopt.sources.download_beir, the rule download_beir) on a zip of BEIR's layout.

A tiny collection is written in BEIR's format, zipped as BEIR ships its datasets
(`scifact/corpus.jsonl`, `scifact/queries.jsonl`, `scifact/qrels/<split>.tsv`) and served
over real HTTP by a local server, so the download function runs as it does against
BEIR's host: the transfer, the md5 of the archive, the extraction and the sha256 of each
file. The real SciFact pins are checked against the local copy in ../shared where it exists.
"""

from __future__ import annotations

import copy
import hashlib
import http.server
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_snakemake
from crossopt.config import ConfigError, beir_data_folder, beir_downloads, read_config_file, validate_config
from crossopt.pretrained import HashMismatch
from crossopt.sources import DownloadError, download_beir

SCIFACT = ROOT.parent / "shared" / "data" / "beir-scifact"
SCIFACT_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/scifact.zip"


def tiny_beir_files() -> dict[str, bytes]:
    """A small collection in BEIR's format: 12 abstracts, 6 claims, test and train qrels (CRLF, as BEIR)."""
    corpus = "".join(json.dumps({"_id": str(100 + i), "title": f"Study {i}",
                                 "text": f"Protein {i % 4} binds receptor {i % 3} in cell line {i}.",
                                 "metadata": {}}) + "\n" for i in range(12))
    queries = "".join(json.dumps({"_id": str(q), "text": f"Protein {q % 4} binds receptor {q % 3}.",
                                  "metadata": {}}) + "\n" for q in range(1, 7))

    def qrels(qids):
        return "query-id\tcorpus-id\tscore\r\n" + "".join(f"{q}\t{100 + q}\t1\r\n" for q in qids)

    return {"corpus.jsonl": corpus.encode(), "queries.jsonl": queries.encode(),
            "qrels/test.tsv": qrels([1, 2, 3]).encode(), "qrels/train.tsv": qrels([4, 5, 6]).encode()}


def beir_zip(files: dict[str, bytes], root: str = "scifact", extra: dict[str, bytes] | None = None,
             compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zipped:
        zipped.writestr(f"{root}/", b"")
        for name, data in {**files, **(extra or {})}.items():
            zipped.writestr(f"{root}/{name}", data)
    return buffer.getvalue()


def pins(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


class Server:
    """A real HTTP server on 127.0.0.1 that serves bytes by path and counts the requests."""

    def __init__(self):
        self.routes: dict[str, bytes] = {}
        self.short: set[str] = set()  # paths whose Content-Length promises more than is sent
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404, "no such file")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body) + (1000 if self.path in server.short else 0)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.close()


@pytest.fixture
def served(server):
    """The tiny collection's zip at /beir/scifact.zip: (url, files, pins, md5)."""
    files = tiny_beir_files()
    archive = beir_zip(files, extra={"README.txt": b"not pinned\n"})
    server.routes["/beir/scifact.zip"] = archive
    return server.url("/beir/scifact.zip"), files, pins(files), hashlib.md5(archive).hexdigest()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- the download function


def test_download_extracts_only_the_pinned_files_and_verifies_them(served, server, tmp_path):
    url, files, sha256, md5 = served
    destination = tmp_path / "downloads" / "scifact"
    record = download_beir(url, sha256, destination, md5=md5)
    kept = sorted(p.relative_to(destination).as_posix() for p in destination.rglob("*") if p.is_file())
    assert kept == sorted([*files, "provenance.json"])  # README.txt is in the zip but not pinned
    for name, data in files.items():
        assert (destination / name).read_bytes() == data
    assert record["verified"] and record["sha256"] == sha256 and record["md5"] == md5
    assert record["not_extracted"] == ["scifact/README.txt"]
    assert json.loads((destination / "provenance.json").read_text()) == record
    assert leftovers(destination.parent) == ["scifact"]  # no temporary zip or folder left beside it
    assert server.requests == ["/beir/scifact.zip"]


def test_a_rerun_with_the_files_in_place_downloads_nothing(served, server, tmp_path):
    url, _, sha256, md5 = served
    first = download_beir(url, sha256, tmp_path / "scifact", md5=md5)
    second = download_beir(url, sha256, tmp_path / "scifact", md5=md5)
    assert server.requests == ["/beir/scifact.zip"] and second == first
    # A folder whose files no longer match is downloaded again, and repaired.
    (tmp_path / "scifact" / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n")
    download_beir(url, sha256, tmp_path / "scifact", md5=md5)
    assert len(server.requests) == 2
    assert (tmp_path / "scifact" / "qrels" / "test.tsv").read_bytes() == tiny_beir_files()["qrels/test.tsv"]


def test_a_sha256_mismatch_names_file_expected_and_got_and_writes_nothing(served, tmp_path):
    url, files, sha256, _ = served
    wrong = dict(sha256, **{"qrels/test.tsv": "0" * 64})
    destination = tmp_path / "downloads" / "scifact"
    with pytest.raises(HashMismatch) as raised:
        download_beir(url, wrong, destination)
    message = str(raised.value)
    assert "qrels/test.tsv" in message and "0" * 64 in message and sha256["qrels/test.tsv"] in message
    assert "corpus.jsonl" not in message  # only the file that differs
    assert not destination.exists() and leftovers(destination.parent) == []


def test_a_failed_download_leaves_an_earlier_folder_as_it_was(served, tmp_path):
    url, _, sha256, _ = served
    destination = tmp_path / "scifact"
    (destination / "qrels").mkdir(parents=True)
    (destination / "corpus.jsonl").write_text("an earlier copy\n")
    with pytest.raises(HashMismatch):
        download_beir(url, dict(sha256, **{"corpus.jsonl": "f" * 64}), destination)
    assert (destination / "corpus.jsonl").read_text() == "an earlier copy\n"
    assert leftovers(tmp_path) == ["scifact"]


def test_the_archives_md5_is_checked_before_anything_is_extracted(served, tmp_path):
    url, _, sha256, md5 = served
    with pytest.raises(HashMismatch, match=f"md5 is {md5}, expected {'a' * 32}"):
        download_beir(url, sha256, tmp_path / "scifact", md5="a" * 32)
    assert leftovers(tmp_path) == []


def test_a_truncated_zip_is_refused(server, tmp_path):
    files = tiny_beir_files()
    archive = beir_zip(files)
    server.routes["/scifact.zip"] = archive[: len(archive) // 2]  # served whole: the file itself is cut
    with pytest.raises(DownloadError, match="not a complete zip archive"):
        download_beir(server.url("/scifact.zip"), pins(files), tmp_path / "scifact")
    assert leftovers(tmp_path) == []


def test_a_damaged_member_fails_its_crc_check(server, tmp_path):
    files = tiny_beir_files()
    archive = bytearray(beir_zip(files, compression=zipfile.ZIP_STORED))
    offset = archive.index(b"cell line 5")  # inside corpus.jsonl, stored uncompressed
    archive[offset] ^= 0x20
    server.routes["/scifact.zip"] = bytes(archive)
    with pytest.raises(DownloadError, match="CRC") as raised:
        download_beir(server.url("/scifact.zip"), pins(files), tmp_path / "scifact")
    assert "nothing was extracted" in str(raised.value)
    assert leftovers(tmp_path) == []


def test_a_transfer_shorter_than_announced_is_refused(server, tmp_path):
    files = tiny_beir_files()
    server.routes["/scifact.zip"] = beir_zip(files)
    server.short.add("/scifact.zip")
    with pytest.raises(DownloadError, match="transfer ended after|IncompleteRead"):
        download_beir(server.url("/scifact.zip"), pins(files), tmp_path / "scifact")
    assert leftovers(tmp_path) == []


def test_http_errors_and_missing_members_are_named(server, served, tmp_path):
    url, files, sha256, _ = served
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_beir(server.url("/elsewhere/scifact.zip"), sha256, tmp_path / "scifact")
    with pytest.raises(DownloadError, match="no scifact/qrels/dev.tsv"):
        download_beir(url, dict(sha256, **{"qrels/dev.tsv": "1" * 64}), tmp_path / "scifact")
    with pytest.raises(ValueError, match="inside the dataset folder"):
        download_beir(url, {"../corpus.jsonl": "1" * 64}, tmp_path / "scifact")
    with pytest.raises(ValueError, match="not the URL of a .zip"):
        download_beir(server.url("/beir/scifact.tar.gz"), sha256, tmp_path / "scifact")
    assert leftovers(tmp_path) == []


# --- the config: where the data come from


def scifact_config() -> dict:
    return read_config_file(ROOT / "config" / "scifact.yaml")


def problems(config: dict) -> str:
    with pytest.raises(ConfigError) as raised:
        validate_config(config)
    return str(raised.value)


def test_scifact_profile_downloads_by_default_and_a_path_wins():
    config = validate_config(scifact_config())
    assert config["testsets"]["scifact"]["download"]["url"] == SCIFACT_URL
    assert beir_downloads(config) == {"scifact": config["testsets"]["scifact"]["download"]}
    assert beir_data_folder(config) == "results/downloads/beir/scifact"  # the training split: the same folder
    local = validate_config(scifact_config() | {"data": dict(scifact_config()["data"], path="/data/scifact")})
    local["testsets"]["scifact"]["path"] = "/data/scifact"
    assert beir_downloads(local) == {} and beir_data_folder(local) == "/data/scifact"


def test_config_errors_name_the_key():
    config = scifact_config()
    config["testsets"]["scifact"]["download"]["sha265"] = config["testsets"]["scifact"]["download"].pop("sha256")
    assert "unknown key 'sha265' in 'testsets.scifact.download' (allowed: md5, sha256, url)" in problems(config)

    config = scifact_config()
    config["testsets"]["scifact"]["download"]["url"] = "https://example.org/scifact.tar.gz"
    assert "'testsets.scifact.download.url'" in problems(config)

    config = scifact_config()
    config["testsets"]["scifact"]["download"]["md5"] = "5F7D"
    assert "'testsets.scifact.download.md5'" in problems(config)

    config = scifact_config()
    del config["testsets"]["scifact"]["download"]
    assert "'testsets.scifact': give 'path' (a local BEIR folder) or 'download'" in problems(config)

    config = scifact_config()
    del config["testsets"]["scifact"]["download"]["sha256"]["qrels/train.tsv"]
    message = problems(config)
    assert "'testsets.scifact.download.sha256': no sha256 for qrels/train.tsv, which 'data.split' reads" in message
    assert "qrels/test.tsv" not in message

    config = scifact_config()
    config["testsets"]["scifact"]["split"] = "dev"
    assert "no sha256 for qrels/dev.tsv, which 'testsets.scifact.split' reads" in problems(config)


def test_the_rule_graph_shows_the_download_and_a_local_path_replaces_it(tmp_path):
    planned = run_snakemake(tmp_path, "-n", "replication", configfile=ROOT / "config" / "scifact.yaml").stdout
    assert "rule download_beir:" in planned and "output: results/downloads/beir/scifact" in planned
    assert "input: results/downloads/beir/scifact\n" in planned  # prepare_local_testset and beir_train_topics
    graph = run_snakemake(tmp_path, "replication", "--rulegraph", configfile=ROOT / "config" / "scifact.yaml")
    assert 'label = "download_beir"' in graph.stdout
    # A local copy (the overlay's paths, here a folder of the same layout) plans no download.
    folder = tmp_path / "local"
    for name, data in tiny_beir_files().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    config = scifact_config()
    config["data"]["path"] = config["testsets"]["scifact"]["path"] = str(folder)
    configfile = tmp_path / "local.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    planned = run_snakemake(tmp_path, "-n", "replication", configfile=configfile).stdout
    assert "download_beir" not in planned and f"{folder}/qrels/train.tsv" in planned


def test_the_workflow_downloads_once_and_prepares_both_splits_from_it(served, server, tmp_path):
    url, files, sha256, md5 = served
    config = copy.deepcopy(scifact_config())
    config["testsets"]["scifact"]["download"] = {"url": url, "md5": md5, "sha256": sha256}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    targets = ["results/testsets/scifact/topics.tsv", "results/data/beir/topics.tsv"]
    run_snakemake(tmp_path, *targets, configfile=configfile)
    assert server.requests == ["/beir/scifact.zip"]
    assert (tmp_path / "results/downloads/beir/scifact/qrels/train.tsv").read_bytes() == files["qrels/train.tsv"]
    assert (tmp_path / "results/testsets/scifact/topics.tsv").read_text().splitlines()[0].split("\t")[0] == "1"
    assert (tmp_path / "results/data/beir/topics.tsv").read_text().splitlines()[0].split("\t")[0] == "4"
    log = (tmp_path / "logs/downloads/beir/scifact.log").read_text()
    assert "sha256 verified" in log and (tmp_path / "benchmarks/downloads/beir/scifact.tsv").is_file()
    again = run_snakemake(tmp_path, *targets, configfile=configfile)
    assert "Nothing to be done" in again.stdout + again.stderr and len(server.requests) == 1


def test_the_workflow_refuses_a_mismatch_and_leaves_no_output(served, tmp_path):
    url, _, sha256, _ = served
    config = copy.deepcopy(scifact_config())
    config["testsets"]["scifact"]["download"] = {"url": url, "sha256": dict(sha256, **{"corpus.jsonl": "e" * 64})}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    result = run_snakemake(tmp_path, "results/downloads/beir/scifact", configfile=configfile, check=False)
    assert result.returncode != 0
    assert not (tmp_path / "results/downloads/beir/scifact").exists()
    assert leftovers(tmp_path / "results/downloads/beir") == []
    log = (tmp_path / "logs/downloads/beir/scifact.log").read_text()
    assert f"corpus.jsonl: expected sha256 {'e' * 64}, got {sha256['corpus.jsonl']}" in log


# --- where the real-data tests find SciFact (tests/real_scifact.py), on the generated zip


@pytest.fixture
def locator(served, tmp_path, monkeypatch):
    """tests/real_scifact.py with no local copies and its cache in tmp_path; the served zip and
    its pins stand in for BEIR's (a dict the test may change before the first lookup)."""
    import real_scifact

    url, _, sha256, md5 = served
    pins = {"url": url, "md5": md5, "sha256": dict(sha256)}
    monkeypatch.setattr(real_scifact, "SHARED_COPY", tmp_path / "no-shared-copy")
    monkeypatch.setattr(real_scifact, "WORKFLOW_DOWNLOAD", tmp_path / "no-workflow-download")
    monkeypatch.setattr(real_scifact, "pinned_download", lambda: pins)
    monkeypatch.setenv("CROSSOPT_TEST_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("CROSSOPT_OFFLINE", raising=False)
    real_scifact._locate.cache_clear()
    yield real_scifact, pins
    real_scifact._locate.cache_clear()


def test_the_real_data_tests_download_once_into_their_cache(locator, server, served, tmp_path):
    real_scifact, _ = locator
    folder = real_scifact.real_scifact()
    assert folder == tmp_path / "cache" / "beir" / "scifact"
    assert (folder / "qrels" / "test.tsv").read_bytes() == served[1]["qrels/test.tsv"]
    real_scifact._locate.cache_clear()  # a later session finds the verified cache
    assert real_scifact.real_scifact() == folder and server.requests == ["/beir/scifact.zip"]


def test_a_local_copy_with_the_pinned_files_comes_first(locator, server, served, tmp_path):
    real_scifact, _ = locator
    copy_ = tmp_path / "no-workflow-download"
    for name, data in served[1].items():
        (copy_ / name).parent.mkdir(parents=True, exist_ok=True)
        (copy_ / name).write_bytes(data)
    assert real_scifact.real_scifact() == copy_ and server.requests == []


def test_without_network_the_real_data_tests_skip_saying_what_was_tried(locator, server):
    real_scifact, pins = locator
    pins["url"] = server.url("/nothing/here.zip")
    with pytest.raises(pytest.skip.Exception, match=r"BEIR SciFact: no copy with the pinned files at .*"
                                                     r"and the download failed: .*HTTP 404"):
        real_scifact.real_scifact()


def test_the_real_data_tests_fail_on_a_download_that_does_not_match(locator):
    real_scifact, pins = locator
    pins["sha256"]["corpus.jsonl"] = "0" * 64
    with pytest.raises(HashMismatch, match="corpus.jsonl"):
        real_scifact.real_scifact()


def test_offline_the_real_data_tests_do_not_try_the_network(locator, server, monkeypatch):
    real_scifact, _ = locator
    monkeypatch.setenv("CROSSOPT_OFFLINE", "1")
    with pytest.raises(pytest.skip.Exception, match="CROSSOPT_OFFLINE=1"):
        real_scifact.real_scifact()
    assert server.requests == []


# --- the real SciFact pins: a local copy, or BEIR's own download (tests/real_scifact.py)


def test_the_pinned_scifact_files_are_the_real_ones():
    """config/scifact.yaml's pins hold for the real SciFact: the copy beside the checkout, or,
    where there is none, BEIR's public zip downloaded by download_beir with its md5 (the
    download itself is tested on generated zips above). The local overlay names that copy."""
    from crossopt.pretrained import verify_sha256
    from real_scifact import real_scifact

    folder = real_scifact()
    pinned = scifact_config()["testsets"]["scifact"]["download"]["sha256"]
    verify_sha256(folder, pinned, f"BEIR SciFact in {folder}")
    assert sorted(pinned) == ["corpus.jsonl", "qrels/test.tsv", "qrels/train.tsv", "queries.jsonl"]
    overlay = read_config_file(ROOT / "config" / "scifact-local.yaml")
    for path in (overlay["data"]["path"], overlay["testsets"]["scifact"]["path"]):
        assert (ROOT / path).resolve() == SCIFACT.resolve()
