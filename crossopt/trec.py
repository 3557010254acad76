"""TREC file formats: run files, qrels and topic TSVs.

Every reader accepts a path or the file's text itself (so tests can embed tiny
files inline) and raises `TrecFormatError` naming the file and line of the first
malformed line. There is one run writer, so every run file in the project has
the same layout and the same tie-breaking.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple, Union

from .atomic import atomic_write_text  # noqa: F401  (the run, qrels and topics writers; imported from here too)

Source = Union[str, os.PathLike]


class TrecFormatError(ValueError):
    """A TREC-format file has a malformed line; the message names file and line."""


class RunEntry(NamedTuple):
    qid: str
    docid: str
    rank: int
    score: float
    tag: str


class Qrel(NamedTuple):
    qid: str
    docid: str
    grade: int


BOM = "\ufeff"


def decode_text(data: bytes, name: str) -> str:
    """UTF-8 text of a file's bytes, without a leading byte-order mark.

    Editors on Windows write a byte-order mark; kept, it would become part of the
    first query id. Invalid UTF-8 is an error naming the file and line.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as fault:
        line = data[: fault.start].count(b"\n") + 1
        raise TrecFormatError(
            f"{name}, line {line}: not valid UTF-8 (byte {data[fault.start]:#04x}); "
            "save the file as UTF-8"
        ) from None
    return text[1:] if text.startswith(BOM) else text


def read_text(path: Source) -> str:
    """A file's UTF-8 text (see `decode_text`); every reader of the project's text inputs uses it."""
    return decode_text(Path(path).read_bytes(), str(path))


def split_lines(text: str) -> list[str]:
    """Lines split at newlines only (str.splitlines also splits at form feeds and
    other separators, which would shift the line numbers of error messages)."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _lines(source: Source) -> tuple[str, list[str]]:
    """Return (name for messages, lines) for a path or an inline text.

    A string containing a newline is taken as inline text; anything else as a path.
    """
    if isinstance(source, str) and "\n" in source:
        return "<inline>", split_lines(source[1:] if source.startswith(BOM) else source)
    return str(source), split_lines(read_text(source))


def _is_comment(line: str) -> bool:
    """trec_eval 10.0 skips a run or qrels line whose first character is '#' (get_qrels.c,
    get_trec_results.c); a '#' after leading blanks starts a data line, as there."""
    return line.startswith("#")


def _report_comments(name: str, count: int) -> None:
    if count:
        print(f"{name}: skipped {count} comment line(s) starting with '#', as trec_eval does")


def read_run(source: Source) -> list[RunEntry]:
    """Read a run file `qid Q0 docid rank score tag` (whitespace separated); lines that start
    with '#' are comments, skipped and counted in the log as trec_eval skips them."""
    name, lines = _lines(source)
    entries = []
    seen: set[tuple[str, str]] = set()
    comments = 0
    for number, line in enumerate(lines, start=1):
        if _is_comment(line):
            comments += 1
            continue
        if not line.strip():
            continue
        fields = line.split()
        where = f"{name}, line {number}"
        if len(fields) != 6:
            raise TrecFormatError(
                f"{where}: expected 6 fields 'qid Q0 docid rank score tag', got {len(fields)}: {line!r}"
            )
        qid, _, docid, rank, score, tag = fields
        try:
            rank_value = int(rank)
        except ValueError:
            raise TrecFormatError(f"{where}: rank {rank!r} is not an integer") from None
        try:
            score_value = float(score)
        except ValueError:
            raise TrecFormatError(f"{where}: score {score!r} is not a number") from None
        if not math.isfinite(score_value):
            raise TrecFormatError(f"{where}: score {score!r} is not finite")
        if (qid, docid) in seen:
            raise TrecFormatError(f"{where}: document {docid!r} appears twice for query {qid!r}")
        seen.add((qid, docid))
        entries.append(RunEntry(qid, docid, rank_value, score_value, tag))
    _report_comments(name, comments)
    return entries


def read_qrels(source: Source) -> list[Qrel]:
    """Read TREC qrels `qid iteration docid grade`; grades are integers (may be negative).

    A (query, document) pair judged twice is an error, as in trec_eval; lines that start
    with '#' are comments, skipped and counted in the log, as trec_eval skips them.
    """
    name, lines = _lines(source)
    qrels = []
    first_line: dict[tuple[str, str], int] = {}
    comments = 0
    for number, line in enumerate(lines, start=1):
        if _is_comment(line):
            comments += 1
            continue
        if not line.strip():
            continue
        fields = line.split()
        where = f"{name}, line {number}"
        if len(fields) != 4:
            raise TrecFormatError(
                f"{where}: expected 4 fields 'qid iteration docid grade', got {len(fields)}: {line!r}"
            )
        qid, _, docid, grade = fields
        try:
            grade_value = int(grade)
        except ValueError:
            raise TrecFormatError(f"{where}: grade {grade!r} is not an integer") from None
        if (qid, docid) in first_line:
            # trec_eval refuses such a file; keeping either grade would change the scores.
            raise TrecFormatError(
                f"{where}: query {qid!r} judges document {docid!r} a second time (first on line "
                f"{first_line[qid, docid]}); keep one judgment per (query, document)"
            )
        first_line[qid, docid] = number
        qrels.append(Qrel(qid, docid, grade_value))
    _report_comments(name, comments)
    return qrels


def read_topics(source: Source) -> dict[str, str]:
    """Read a topics TSV `qid<TAB>text` (no header) into {qid: text}."""
    name, lines = _lines(source)
    topics: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\r").split("\t")
        where = f"{name}, line {number}"
        if len(fields) == 2 and fields[0].strip() and not fields[1].strip():
            raise TrecFormatError(f"{where}: query {fields[0].strip()!r} has an empty text")
        if len(fields) != 2 or not fields[0].strip():
            raise TrecFormatError(f"{where}: expected 'qid<TAB>text', got {line!r}")
        qid = fields[0].strip()
        if len(qid.split()) != 1:
            raise TrecFormatError(f"{where}: query id {qid!r} contains a space; run and qrels files separate "
                                  "their fields by whitespace, so a query id cannot hold one")
        if qid in topics:
            raise TrecFormatError(f"{where}: query id {qid!r} appears twice")
        topics[qid] = fields[1].strip()
    if not topics:
        raise TrecFormatError(f"{name}: no topics (the file is empty); expected lines 'qid<TAB>text'")
    return topics


def run_to_dict(entries: Iterable[RunEntry]) -> dict[str, dict[str, float]]:
    """{qid: {docid: score}}, the shape pytrec_eval takes."""
    run: dict[str, dict[str, float]] = {}
    for entry in entries:
        run.setdefault(entry.qid, {})[entry.docid] = entry.score
    return run


def qrels_to_dict(qrels: Iterable[Qrel]) -> dict[str, dict[str, int]]:
    """{qid: {docid: grade}}, the shape pytrec_eval takes."""
    table: dict[str, dict[str, int]] = {}
    for qrel in qrels:
        table.setdefault(qrel.qid, {})[qrel.docid] = qrel.grade
    return table


def rank_documents(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """Order one query's documents by score, highest first, ties by docid ascending.

    trec_eval ignores the rank column and breaks score ties itself (by docid,
    descending), so tied scores make the written ranks and the evaluated order
    disagree. We fix the order here and then make the scores strictly
    decreasing (see `strictly_decreasing`), so every tool sees the same ranking.
    """
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def trec_eval_order(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """One query's documents in the order trec_eval ranks them.

    trec_eval (form_res_rels.c) sorts by score, compared as a double, highest
    first, and breaks ties by docid in descending byte order; it ignores the
    rank column. Python compares str by code point, which orders UTF-8 bytes
    the same way. Every cut-off the evaluation applies uses this order.
    """
    return sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)


def strictly_decreasing(scores: list[float]) -> list[float]:
    """Nudge already-sorted scores so each is strictly below the one before.

    A tie is resolved by stepping down to the next representable float, which
    changes no score by more than rounding noise and keeps the sort order.
    """
    result: list[float] = []
    for score in scores:
        if result and score >= result[-1]:
            score = math.nextafter(result[-1], -math.inf)
        result.append(score)
    return result


def format_run(run: Mapping[str, Mapping[str, float]], tag: str, depth: int | None = None) -> str:
    """Text of a run file: queries in sorted order, ranks 1..n, strictly decreasing scores."""
    if not tag or any(ch.isspace() for ch in tag):
        raise ValueError(f"run tag must be a non-empty word without spaces, got {tag!r}")
    lines = []
    for qid in sorted(run):
        ranked = rank_documents(run[qid])
        if depth is not None:
            ranked = ranked[:depth]
        scores = strictly_decreasing([score for _, score in ranked])
        for rank, ((docid, _), score) in enumerate(zip(ranked, scores), start=1):
            # repr() round-trips the float exactly, so reading back keeps strictness.
            lines.append(f"{qid} Q0 {docid} {rank} {score!r} {tag}")
    return "\n".join(lines) + ("\n" if lines else "")


def write_run(path: Source, run: Mapping[str, Mapping[str, float]], tag: str, depth: int | None = None) -> None:
    """Write a run file atomically with `format_run`'s layout."""
    atomic_write_text(path, format_run(run, tag, depth))


def write_qrels(path: Source, qrels: Iterable[Qrel]) -> None:
    """Write qrels `qid 0 docid grade`, sorted by query then document."""
    lines = [f"{q.qid} 0 {q.docid} {q.grade}" for q in sorted(qrels, key=lambda q: (q.qid, q.docid))]
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_topics(path: Source, topics: Mapping[str, str]) -> None:
    """Write a topics TSV; tabs and newlines inside a query would break the format."""
    lines = []
    for qid in sorted(topics):
        text = " ".join(topics[qid].split())
        if not text:
            raise ValueError(f"query {qid!r} has empty text")
        lines.append(f"{qid}\t{text}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def check_run_file(path: Source) -> int:
    """Fail loudly unless `path` is a readable, non-empty run file; return its line count.

    Pyserini's CLI can exit 0 without writing its output (e.g. when an index
    path does not exist and is taken as a prebuilt-index name).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"run file {path} was not written")
    entries = read_run(path)
    if not entries:
        raise TrecFormatError(f"run file {path} is empty: the retrieval found nothing for any query "
                              "(check the index and the topics file)")
    return len(entries)
