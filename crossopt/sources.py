"""One function per external data source; each does only the download or index I/O.

Everything these functions return is turned into the project's files by the pure
builders of :mod:`crossopt.data`, which the tests run on local fixtures of the
same schemas. The hub and prebuilt-index downloads cannot run offline; the
Pyserini topics/qrels and the searcher helpers can, and are tested.

`download_beir` fetches a BEIR dataset's public zip and checks every file it keeps
against pinned sha256 values; it runs offline in the tests against a local HTTP server.

Heavy imports (``datasets``, ``pyserini``, which starts a JVM) happen inside the
functions, so importing this module (e.g. while Snakemake builds the DAG) costs
nothing and touches no network.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from crossopt.data import (
    CORPUS_ID,
    QUERIES_ID,
    DataError,
    Qrel,
    RunRow,
    Topic,
    needed_ids,
    select_rows_by_id,
)
from crossopt.config import beir_archive_root, is_index_path, is_lucene_index
from crossopt.trec import read_qrels

MSMARCO_TRAINING_DATASET = "sentence-transformers/msmarco"
MS_MARCO_QA_DATASET = "microsoft/ms_marco"
MSMARCO_PREBUILT_INDEX = "msmarco-v1-passage"


def download_msmarco_training(
    n_triplets: int,
    revision: str | None,
    dataset: str = MSMARCO_TRAINING_DATASET,
    split: str = "train",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The first ``n_triplets`` triplets and the texts they use, from the hub.

    Schema of ``sentence-transformers/msmarco`` (its dataset card and the
    sentence-transformers training examples that load it), split ``train``:

    * subset ``triplets``: ``query_id``, ``positive_id``, ``negative_id``
      (strings; MS MARCO's ``qidpidtriples.train.full.2``, reshuffled once by
      the uploader, so "the first N" is a fixed sample at a pinned revision);
    * subset ``corpus``: ``passage_id``, ``passage`` (8,841,823 rows);
    * subset ``queries``: ``query_id``, ``query`` (808,731 rows).

    The triplets are streamed, so only the shards holding the first rows are
    fetched; corpus and queries are loaded (memory-mapped Arrow) and cut down
    to the ids the triplets use. Returns ``(corpus_df, queries_df,
    triplets_df)`` for :func:`crossopt.data.build_training_pairs`.
    """
    import datasets  # deferred: heavy, and only needed when downloading

    stream = datasets.load_dataset(dataset, "triplets", split=split, revision=revision, streaming=True)
    triplets_df = pd.DataFrame(list(stream.take(n_triplets)))
    if len(triplets_df) < n_triplets:
        raise DataError(f"{dataset}@{revision} triplets: asked for {n_triplets}, the split has {len(triplets_df)}")
    query_ids, passage_ids = needed_ids(triplets_df)
    corpus = datasets.load_dataset(dataset, "corpus", split=split, revision=revision)
    queries = datasets.load_dataset(dataset, "queries", split=split, revision=revision)
    corpus_df = select_rows_by_id(corpus.with_format("arrow")[:], CORPUS_ID, passage_ids)
    queries_df = select_rows_by_id(queries.with_format("arrow")[:], QUERIES_ID, query_ids)
    return corpus_df, queries_df, triplets_df


def download_ms_marco_v11_validation(
    revision: str,
    dataset: str = MS_MARCO_QA_DATASET,
    config: str = "v1.1",
    split: str = "validation",
):
    """HF ``microsoft/ms_marco`` v1.1 validation (10,047 queries) as a ``datasets.Dataset``.

    Record schema (dataset card): ``answers`` (list of str), ``passages``
    (sequence of ``is_selected`` int32, ``passage_text`` str, ``url`` str;
    decoded as a dict of lists), ``query`` (str), ``query_id`` (int32),
    ``query_type`` (str), ``wellFormedAnswers`` (list of str). Feed it to
    :func:`crossopt.data.build_v11_testset`.
    """
    import datasets

    return datasets.load_dataset(dataset, config, split=split, revision=revision)


def pyserini_topics_qrels(topics_name: str, qrels_name: str | None = None) -> tuple[list[Topic], list[Qrel]]:
    """Topics and qrels bundled in Pyserini 0.21's jar, e.g. ``dl19-passage``, ``msmarco-passage-dev-subset``.

    Works offline: 0.21 reads both from the Anserini jar (the qrels are copied
    to Pyserini's cache folder on first use). Topic text is the ``title``
    field. ``dl19-passage`` has the 43 judged queries only; the full 200
    DL 2019 queries are not bundled in 0.21.
    """
    from pyserini.search import get_qrels_file, get_topics

    qrels_name = qrels_name or topics_name
    topics = []
    for qid, fields in get_topics(topics_name).items():
        if "title" not in fields:
            raise DataError(f"Pyserini topics {topics_name!r}: query {qid} has no 'title' field ({sorted(fields)})")
        topics.append((str(qid), fields["title"]))
    if not topics:
        raise DataError(f"Pyserini topics {topics_name!r} are empty")
    return topics, read_qrels(get_qrels_file(qrels_name))


def open_prebuilt_index(name: str = MSMARCO_PREBUILT_INDEX):
    """A searcher on a Pyserini prebuilt index, downloaded on first use (about 2.2 GB for msmarco-v1-passage).

    Pyserini returns ``None`` (after printing) when the download fails; that
    becomes an error here instead of a silent empty result.
    """
    from pyserini.search.lucene import LuceneSearcher

    searcher = LuceneSearcher.from_prebuilt_index(name)
    if searcher is None:
        raise RuntimeError(f"could not open the Pyserini prebuilt index {name!r} (download failed or unknown name)")
    return searcher


def open_local_index(path: str | os.PathLike):
    """A searcher on a local Lucene index; a missing folder is an error, never a prebuilt-name lookup."""
    from pyserini.search.lucene import LuceneSearcher

    if not is_lucene_index(path):
        raise FileNotFoundError(f"no Lucene index at {path}")
    return LuceneSearcher(str(path))


def bm25_search(searcher, topics: Iterable[Topic], k1: float, b: float, hits: int, threads: int = 1) -> list[RunRow]:
    """BM25 top-``hits`` per topic with k1 and b set explicitly (Pyserini's own defaults differ by index).

    Rows are ``(qid, docid, rank, score)``, ranks 1-based in the searcher's order.
    """
    searcher.set_bm25(float(k1), float(b))
    topics = list(topics)
    results = searcher.batch_search(
        [text for _, text in topics], [qid for qid, _ in topics], k=hits, threads=threads
    )
    run: list[RunRow] = []
    for qid, _ in topics:
        for rank, hit in enumerate(results.get(qid, []), start=1):
            run.append((qid, hit.docid, rank, float(hit.score)))
    return run


def doc_texts(searcher, docids: Iterable[str]) -> dict[str, str]:
    """Passage text per docid, from the stored raw JSON (``--storeRaw``) or the stored contents.

    Pyserini's msmarco-v1-passage index stores the raw ``{"id", "contents"}``
    JSON; a local index built with ``--storeRaw`` or ``--storeContents`` works
    the same way. A docid missing from the index, or an index that stores no
    text (a "slim" index), is an error.
    """
    texts: dict[str, str] = {}
    for docid in dict.fromkeys(str(d) for d in docids):
        doc = searcher.doc(docid)
        if doc is None:
            raise KeyError(f"document {docid!r} is not in the index")
        raw = doc.raw()
        if raw is not None:
            try:
                texts[docid] = json.loads(raw)["contents"]
                continue
            except (json.JSONDecodeError, KeyError, TypeError):
                pass  # raw is not JSON with "contents": fall back to the stored contents field
        contents = doc.contents()
        if contents is None:
            raise DataError(f"document {docid!r}: the index stores neither raw JSON with 'contents' nor contents")
        texts[docid] = contents
    return texts


def prebuilt_bm25_search(
    topics: Iterable[Topic],
    k1: float,
    b: float,
    hits: int,
    index: str = MSMARCO_PREBUILT_INDEX,
    threads: int = 1,
) -> list[RunRow]:
    """BM25 candidates from a prebuilt index (downloads it); k1 and b have no defaults on purpose."""
    return bm25_search(open_index(index), topics, k1=k1, b=b, hits=hits, threads=threads)


def open_index(index: str):
    """A searcher on `index`: a local Lucene folder (see `is_index_path`) or a prebuilt name (downloads it)."""
    return open_local_index(index) if is_index_path(index) else open_prebuilt_index(index)


def index_doc_texts(docids: Iterable[str], index: str = MSMARCO_PREBUILT_INDEX) -> Mapping[str, str]:
    """Passage texts from a Lucene index folder or a prebuilt index (downloads it)."""
    return doc_texts(open_index(index), docids)


def index_document_count(index: str) -> int:
    """How many documents a Lucene index folder or prebuilt index holds."""
    return int(open_index(index).num_docs)


NANOBEIR_DATASET = "sentence-transformers/NanoBEIR-en"


def nanobeir_evaluator(dataset_names: list[str], batch_size: int, dataset_id: str = NANOBEIR_DATASET,
                       revision: str | None = None):
    """sentence-transformers' CrossEncoderNanoBEIREvaluator reading `dataset_id` at `revision`
    (downloads it; the library itself always reads the current main branch).

    `dataset_id` may also be a local folder with the same subsets (corpus, queries,
    qrels, bm25) and splits (NanoMSMARCO, ...), which is how the tests build one.
    """
    from datasets import load_dataset
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderNanoBEIREvaluator

    class PinnedNanoBEIREvaluator(CrossEncoderNanoBEIREvaluator):
        def _load_dataset_subset_split(self, subset, split, required_columns):
            try:
                dataset = load_dataset(self.dataset_id, subset, split=split, revision=revision)
            except Exception as error:
                raise DataError(f"could not load subset {subset!r}, split {split!r} of {self.dataset_id!r} "
                                f"at revision {revision or 'main'}: {error}") from error
            missing = set(required_columns) - set(dataset.column_names)
            if missing:
                raise DataError(f"{self.dataset_id} ({subset}/{split}) lacks the columns {sorted(missing)}")
            return dataset

    return PinnedNanoBEIREvaluator(dataset_names=dataset_names, dataset_id=dataset_id, batch_size=batch_size)


# ---------------------------------------------------------------------------
# BEIR datasets: the public zip of the BEIR distribution, checked file by file

BEIR_PROVENANCE = "provenance.json"


class DownloadError(RuntimeError):
    """A download that cannot be used: a failed or short transfer, or an archive that is not a whole zip."""


def fetch_url(url: str, destination: str | os.PathLike, timeout: float = 60.0) -> int:
    """Copy `url` to the file `destination`; return the bytes received.

    A transfer that ends before the length the server announced is an error, as is
    any HTTP error status; `destination` may then hold a part of the file, and the
    caller, who owns it, removes it.
    """
    import http.client
    import shutil
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "crossopt (BEIR download)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(destination, "wb") as sink:
            announced = response.headers.get("Content-Length")
            shutil.copyfileobj(response, sink, 1 << 20)
            received = sink.tell()
    except urllib.error.HTTPError as error:
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        raise DownloadError(f"{url}: download failed ({type(error).__name__}: {reason})") from None
    if announced is not None and received != int(announced):
        raise DownloadError(f"{url}: the transfer ended after {received:,} of {int(announced):,} bytes")
    return received


def _checked_member_names(sha256: Mapping[str, str]) -> list[str]:
    """The pinned file names, refused if one could leave the destination folder."""
    from pathlib import PurePosixPath

    names = sorted(sha256)
    for name in names:
        parts = PurePosixPath(name).parts
        if not name or name.startswith("/") or ".." in parts or "\\" in name:
            raise ValueError(f"pinned file name {name!r}: give a path inside the dataset folder, e.g. qrels/test.tsv")
    return names


def _md5_sha256(path: Path) -> tuple[str, str]:
    import hashlib

    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            md5.update(block)
            sha256.update(block)
    return md5.hexdigest(), sha256.hexdigest()


def _beir_folder_matches(folder: Path, sha256: Mapping[str, str]) -> bool:
    """Whether `folder` already holds every pinned file with its pinned hash."""
    from crossopt.pretrained import sha256_file

    return folder.is_dir() and all(
        (folder / name).is_file() and sha256_file(folder / name) == want.lower() for name, want in sha256.items())


def download_beir(url: str, sha256: Mapping[str, str], destination: str | os.PathLike,
                  md5: str | None = None, timeout: float = 60.0) -> dict:
    """A BEIR dataset from its public zip (BEIR v1.0.0: `.../BEIR/datasets/<name>.zip`) in `destination`.

    `sha256` pins each file the study uses (`corpus.jsonl`, `queries.jsonl`,
    `qrels/<split>.tsv`), named relative to the archive's `<name>/` folder; only
    those files are extracted, so nothing unchecked lands in `destination`. `md5`
    is the archive's checksum as BEIR publishes it (the table of datasets in
    BEIR's README), checked before anything is extracted.

    The zip is downloaded to a temporary file beside `destination` and extracted
    into a temporary folder there, which is renamed to `destination` only when
    every pinned file matches: a failed transfer, a corrupt archive or a hash
    mismatch leaves `destination` as it was. A `destination` that already holds
    every pinned file with its hash is kept and nothing is downloaded. Returns
    the provenance record, also written to `destination/provenance.json`.
    """
    import tempfile
    import zipfile
    import zlib

    from crossopt.atomic import atomic_path
    from crossopt.pretrained import HashMismatch, sha256_file

    destination = Path(destination)
    if not sha256:
        raise HashMismatch(f"{url}: no sha256 given; refusing to use unverified files")
    names = _checked_member_names(sha256)
    root = beir_archive_root(url)
    if _beir_folder_matches(destination, sha256):
        print(f"{destination}: already holds the {len(names)} pinned files with their sha256; not downloaded again")
        provenance = destination / BEIR_PROVENANCE
        return json.loads(provenance.read_text()) if provenance.is_file() else {"url": url, "files": names}
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, archive_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".zip.tmp")
    os.close(fd)
    archive = Path(archive_name)
    try:
        print(f"downloading {url}")
        size = fetch_url(url, archive, timeout)
        archive_md5, archive_sha256 = _md5_sha256(archive)
        if md5 is not None and archive_md5 != md5.lower():
            raise HashMismatch(f"{url}: the archive's md5 is {archive_md5}, expected {md5.lower()} "
                               f"({size:,} bytes received): a different or damaged file")
        record = {"url": url, "bytes": size, "md5": archive_md5, "archive_sha256": archive_sha256}
        with atomic_path(destination, directory=True) as staging:
            try:
                with zipfile.ZipFile(archive) as zipped:
                    members = {info.filename: info for info in zipped.infolist() if not info.is_dir()}
                    missing = [name for name in names if f"{root}/{name}" not in members]
                    if missing:
                        held = ", ".join(sorted(members)[:12])
                        raise DownloadError(f"{url}: the archive has no {', '.join(f'{root}/{n}' for n in missing)} "
                                            f"(it holds: {held}{' ...' if len(members) > 12 else ''})")
                    for name in names:
                        target = staging.joinpath(*name.split("/"))
                        target.parent.mkdir(parents=True, exist_ok=True)
                        # ZipFile checks each member's CRC-32 as it is read to the end.
                        with zipped.open(members[f"{root}/{name}"]) as source, open(target, "wb") as sink:
                            while block := source.read(1 << 20):
                                sink.write(block)
            except (zipfile.BadZipFile, EOFError, zlib.error) as error:
                raise DownloadError(f"{url}: the downloaded file ({size:,} bytes) is not a complete zip archive "
                                    f"({error}); nothing was extracted") from None
            got = {name: sha256_file(staging / name) for name in names}
            wrong = [f"{name}: expected sha256 {sha256[name].lower()}, got {got[name]}"
                     for name in names if got[name] != sha256[name].lower()]
            if wrong:
                raise HashMismatch(f"{url}: extracted files do not match the pinned sha256; "
                                   f"nothing was written to {destination}:\n  " + "\n  ".join(wrong))
            record.update(files=names, sha256=got, verified=True,
                          not_extracted=sorted(m for m in members if not m.startswith(f"{root}/")
                                               or m[len(root) + 1:] not in sha256))
            (staging / BEIR_PROVENANCE).write_text(json.dumps(record, indent=2) + "\n")
    finally:
        archive.unlink(missing_ok=True)
    print(f"{destination}: {len(names)} files from {url}, sha256 verified ({', '.join(names)})")
    return record
