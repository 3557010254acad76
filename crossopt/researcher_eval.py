"""The researcher's own evaluation files, imported into the workflow's evaluation layout,
and the reconciliation of the brief's table with them.

The folder named by config `paper.reported_eval` (../shared/study/researcher-eval) holds

    {model}/{optimizer}/ep{epoch}.json   trec_eval's full output (99 fields) on TREC DL 2019,
                                         one reranked BM25 top-1000 run per checkpoint
    mrrs.txt                             MRR@10 on MS MARCO dev (v1.1 given passages) per
                                         model, optimizer and epoch, at full precision

Folder and label names are the researcher's (`mini_lm`, `modern_bert`, `adamW`,
`MiniLM + AdamW`, ...). A name belongs to a config key when, lower-cased and with `_`
and `-` removed, it equals the key (`mini_lm` -> `minilm`, `adamW` -> `adamw`).

Each checkpoint becomes one evaluation JSON per test set, at the path the workflow's own
evaluations use below `results/reported/eval/`, so that `crossopt.table.table_rows` builds
`results/table.tsv` from them exactly as it does from computed evaluations. Measure names
map from trec_eval's to the workflow's (`crossopt.evaluate.MEASURES`):

    workflow        researcher's field
    ndcg_cut_10     ndcg_cut_10
    map             map
    recall_10       recall_10
    Rprec           Rprec
    P_10            P_10
    recall_1000     recall_1000      (recall of the BM25 top-1000 pool the reranker reorders)
    recip_rank_10   mrr_at_10 in mrrs.txt (MS MARCO test set)

trec_eval's own `recip_rank` on TREC DL 2019 has no cutoff, so it is not `recip_rank_10`;
it stays, like every other field, under its trec_eval name in the report's `trec_eval` block.
The files hold aggregate values only: the reports say so (`per_query` is null) and name,
for every value, the file and field it came from.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .study import Column, Grid
from .trec import atomic_write_text

MRR_FILE = "mrrs.txt"
MRR_FIELD = "mrr_at_10"
MRR_MEASURE = "recip_rank_10"
# Workflow measure name -> trec_eval field of the researcher's DL19 JSONs.
TREC_EVAL_FIELDS = {
    "ndcg_cut_10": "ndcg_cut_10",
    "map": "map",
    "recall_10": "recall_10",
    "Rprec": "Rprec",
    "P_10": "P_10",
    "recall_1000": "recall_1000",
}
SOURCE = "the researcher's evaluation files, imported unchanged (not recomputed)"
PER_QUERY_NOTE = "the researcher's files hold aggregate values only; no per-query values exist"


class ResearcherEvalError(ValueError):
    """A researcher's file is missing, ambiguous or malformed (the message names it)."""


def name_key(name: str) -> str:
    """The config key a researcher's folder or label name stands for."""
    return name.lower().replace("_", "").replace("-", "")


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class MrrValue:
    """One `ep{N} = {"mrr_at_10": ...}` block of mrrs.txt."""

    model: str  # config key (name_key of the label)
    optimizer: str
    epoch: int
    value: float
    label: str  # the researcher's heading, e.g. "MiniLM + AdamW"
    line: int  # line of the `epN = {` that opens the block


_HEADING = re.compile(r"^(\S+)\s*\+\s*(\S+)$")
_BLOCK = re.compile(r"^ep(\d+)\s*=\s*\{\s*$")


def read_mrrs(path: str | Path) -> list[MrrValue]:
    """Parse mrrs.txt: headings `model + optimizer`, then `epN = { JSON }` blocks."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    values, seen, heading = [], {}, None
    i = 0
    while i < len(lines):
        text = lines[i].strip()
        number = i + 1
        i += 1
        if not text:
            continue
        if match := _HEADING.match(text):
            heading = (match.group(1), match.group(2), number)
            continue
        match = _BLOCK.match(text)
        if match is None:
            raise ResearcherEvalError(f"{path}:{number}: expected 'model + optimizer' or "
                                      f"'epN = {{', got {text!r}")
        if heading is None:
            raise ResearcherEvalError(f"{path}:{number}: epoch block before any "
                                      f"'model + optimizer' heading")
        body = ["{"]
        while i < len(lines) and lines[i].strip() != "}":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise ResearcherEvalError(f"{path}:{number}: block is not closed by a '}}' line")
        body.append("}")
        i += 1
        try:
            record = json.loads("\n".join(body))
        except json.JSONDecodeError as error:
            raise ResearcherEvalError(f"{path}:{number}: block is not JSON: {error}") from None
        value = record.get(MRR_FIELD) if isinstance(record, dict) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ResearcherEvalError(f"{path}:{number}: no numeric {MRR_FIELD!r} in the block")
        model, optimizer, _ = heading
        entry = MrrValue(name_key(model), name_key(optimizer), int(match.group(1)), float(value),
                         f"{model} + {optimizer}", number)
        key = (entry.model, entry.optimizer, entry.epoch)
        if key in seen:
            raise ResearcherEvalError(f"{path}:{number}: {entry.label} epoch {entry.epoch} "
                                      f"already given on line {seen[key]}")
        seen[key] = number
        values.append(entry)
    if not values:
        raise ResearcherEvalError(f"{path}: no MRR@10 values")
    return values


def read_trec_eval_json(path: str | Path) -> dict:
    """One of the researcher's trec_eval JSONs: `runid` plus numeric measure fields."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ResearcherEvalError(f"{path}: not JSON: {error}") from None
    if not isinstance(record, dict) or "runid" not in record:
        raise ResearcherEvalError(f"{path}: not a trec_eval output (no 'runid' field)")
    for field, value in record.items():
        if field == "runid":
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ResearcherEvalError(f"{path}: field {field!r} is not a number: {value!r}")
    missing = [f for f in TREC_EVAL_FIELDS.values() if f not in record]
    if missing:
        raise ResearcherEvalError(f"{path}: missing trec_eval field(s) {missing}")
    return record


def _subfolder(parent: Path, key: str, what: str) -> Path:
    matches = sorted(p for p in parent.iterdir() if p.is_dir() and name_key(p.name) == key)
    if len(matches) != 1:
        found = sorted(p.name for p in parent.iterdir() if p.is_dir())
        problem = "no folder" if not matches else f"{len(matches)} folders"
        raise ResearcherEvalError(f"{parent}: {problem} for {what} {key!r} (found {found}; a "
                                  f"folder matches when its lower-cased name without '_' and "
                                  f"'-' equals the key)")
    return matches[0]


def locate_files(folder: str | Path, models: Sequence[str], optimizers: Sequence[str],
                 epochs: int) -> dict[tuple[str, str, int], Path]:
    """(model key, optimizer key, epoch) -> the researcher's trec_eval JSON for it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResearcherEvalError(
            f"config paper.reported_eval: {folder} is not a folder. It must hold the "
            f"researcher's evaluation files ({{model}}/{{optimizer}}/ep{{epoch}}.json and "
            f"{MRR_FILE}); see README, 'The paper'.")
    files = {}
    for model in models:
        model_dir = _subfolder(folder, model, "model")
        for optimizer in optimizers:
            optim_dir = _subfolder(model_dir, optimizer, "optimizer")
            for epoch in range(1, epochs + 1):
                path = optim_dir / f"ep{epoch}.json"
                if not path.is_file():
                    raise ResearcherEvalError(f"{path}: missing (epoch {epoch} of {model}/"
                                              f"{optimizer})")
                files[(model, optimizer, epoch)] = path
    if not (folder / MRR_FILE).is_file():
        raise ResearcherEvalError(f"{folder / MRR_FILE}: missing")
    return files


def source_files(folder: str | Path, models: Sequence[str], optimizers: Sequence[str],
                 epochs: int) -> list[str]:
    """Every file the import reads (the rule's inputs), mrrs.txt last."""
    files = locate_files(folder, models, optimizers, epochs)
    return [str(p) for p in files.values()] + [str(Path(folder) / MRR_FILE)]


# --------------------------------------------------------------------------- importing


def steps_from_runid(runid: str) -> int | None:
    """The checkpoint's step count in a runid such as 'checkpoint-3887'; None for 'final'."""
    match = re.fullmatch(r"(?:checkpoint-)?(\d+)", str(runid).strip())
    return int(match.group(1)) if match else None


def trec_eval_report(record: Mapping, *, file: str, testset: str, system: str,
                     relevance_level: int) -> dict:
    """A workflow evaluation report (aggregate only) from one trec_eval JSON."""
    return {
        "testset": testset,
        "system": system,
        "source": SOURCE,
        "run": None,
        "qrels": None,
        "relevance_level": relevance_level,
        "relevance_level_source": "config paper.reported_relevance_level (trec_eval's default; "
                                  "num_rel counts grade >= 1)",
        "n_queries": int(record["num_q"]) if "num_q" in record else None,
        "aggregate": {m: float(record[f]) for m, f in TREC_EVAL_FIELDS.items()},
        "aggregate_sources": {m: {"file": file, "field": f} for m, f in TREC_EVAL_FIELDS.items()},
        "per_query": None,
        "per_query_note": PER_QUERY_NOTE,
        "other_levels": {},
        "runid": record["runid"],
        "checkpoint_steps": steps_from_runid(record["runid"]),
        "trec_eval": dict(record),
    }


def mrr_report(entry: MrrValue, *, testset: str, system: str, relevance_level: int) -> dict:
    """A workflow evaluation report holding MRR@10 from one block of mrrs.txt."""
    field = f"{entry.label} / ep{entry.epoch} / {MRR_FIELD}"
    return {
        "testset": testset,
        "system": system,
        "source": SOURCE,
        "run": None,
        "qrels": None,
        "relevance_level": relevance_level,
        "n_queries": None,  # mrrs.txt does not say how many queries were averaged
        "aggregate": {MRR_MEASURE: entry.value},
        "aggregate_sources": {MRR_MEASURE: {"file": MRR_FILE, "field": field,
                                            "line": entry.line}},
        "per_query": None,
        "per_query_note": PER_QUERY_NOTE,
        "other_levels": {},
    }


def import_evaluations(folder: str | Path, config: Mapping) -> dict[tuple[str, str, int, int, str], dict]:
    """(model, optimizer, seed, epoch, test set) -> imported report, for every configured run.

    The test sets are those of the table's columns: NDCG@10's (the trec_eval JSONs) and
    MRR@10's (mrrs.txt). The researcher ran one seed; the config must name exactly one.
    """
    folder = Path(folder)
    seeds = list(config["study"]["seeds"])
    if len(seeds) != 1:
        raise ResearcherEvalError(f"config study.seeds: the researcher's files hold one run per "
                                  f"configuration, but {len(seeds)} seeds are configured")
    seed, epochs = seeds[0], int(config["study"]["epochs"])
    columns = config["table"]["columns"]
    ranking, mrr_testset = columns["NDCG@10"]["testset"], columns["MRR@10"]["testset"]
    for name, spec in columns.items():
        imported = (sorted(TREC_EVAL_FIELDS) if spec["testset"] == ranking
                    else [MRR_MEASURE] if spec["testset"] == mrr_testset else [])
        if spec["measure"] not in imported:
            raise ResearcherEvalError(f"config table.columns.{name}: {spec['measure']!r} on "
                                      f"{spec['testset']!r} is not among the imported measures "
                                      f"({', '.join(imported) or 'none on that test set'})")
    level = int(config["paper"]["reported_relevance_level"])
    mrr_level = int(config["testsets"][mrr_testset]["relevance_level"])
    models, optimizers = list(config["models"]), list(config["optimizers"])
    files = locate_files(folder, models, optimizers, epochs)
    mrrs = {(m.model, m.optimizer, m.epoch): m for m in read_mrrs(folder / MRR_FILE)}
    reports = {}
    for (model, optimizer, epoch), path in files.items():
        system = f"{model}/{optimizer}/seed{seed}/epoch{epoch}"
        record = read_trec_eval_json(path)
        reports[(model, optimizer, seed, epoch, ranking)] = trec_eval_report(
            record, file=path.relative_to(folder).as_posix(), testset=ranking, system=system,
            relevance_level=level)
        entry = mrrs.get((model, optimizer, epoch))
        if entry is None:
            raise ResearcherEvalError(f"{folder / MRR_FILE}: no MRR@10 for {model} + "
                                      f"{optimizer}, epoch {epoch}")
        reports[(model, optimizer, seed, epoch, mrr_testset)] = mrr_report(
            entry, testset=mrr_testset, system=system, relevance_level=mrr_level)
    return reports


def write_reports(reports: Mapping[tuple, dict], eval_path) -> list[str]:
    """Write each report to `eval_path(model, optim, seed, epoch, testset)`, atomically."""
    written = []
    for (model, optimizer, seed, epoch, testset), report in reports.items():
        path = eval_path(model, optimizer, seed, epoch, testset)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(report, indent=1, sort_keys=True) + "\n")
        written.append(str(path))
    return written


# --------------------------------------------------------------------------- reconciliation

RECONCILIATION_HEADER = ["Base Model", "Optimizer", "Epoch", "Column", "Brief", "Output",
                         "Output rounded", "Difference", "Status", "File", "Field"]
# Status of a cell: the brief agrees with the output rounded to 4 decimals; it shows the
# output truncated instead of rounded; or it differs otherwise.
AGREES, TRUNCATED, DIFFERS = "agrees", "truncated", "differs"


@dataclass(frozen=True)
class ReconciledCell:
    """One cell of the brief's table beside the value in the researcher's output."""

    model: str  # display names, as in the tables
    optimizer: str
    epoch: int
    column: str
    brief: float
    output: float  # as the file holds it (trec_eval: 4 decimals; mrrs.txt: full precision)
    file: str
    field: str

    @property
    def rounded(self) -> float:
        return round(self.output, 4)

    @property
    def difference(self) -> float:
        """Brief minus output, both at 4 decimals."""
        return round(self.brief - self.rounded, 4)

    @property
    def status(self) -> str:
        if round(self.brief, 4) == self.rounded:
            return AGREES
        if round(self.brief, 4) == math.floor(self.output * 10**4 + 1e-9) / 10**4:
            return TRUNCATED
        return DIFFERS


def reconcile(brief_rows, reports: Mapping[tuple, dict], grid: Grid,
              columns: Sequence[Column]) -> list[ReconciledCell]:
    """Every cell of the brief's table (crossopt.paper.ResultRow list) against the imported
    report that fills the same cell of results/table.tsv (the grid's first seed; `columns`
    as in crossopt.study)."""
    by_column = {column.name: column for column in columns}
    by_name = {name: key for key, name in grid.models.items()}
    optim_by_name = {name: key for key, name in grid.optimizers.items()}
    seed = grid.seeds[0]
    cells = []
    for row in brief_rows:
        if row.is_baseline:
            raise ResearcherEvalError("the brief's table has no BM25 row; got one")
        try:
            model, optimizer = by_name[row.model], optim_by_name[row.optimizer]
        except KeyError:
            raise ResearcherEvalError(f"brief row {row.model} / {row.optimizer}: not a model "
                                      f"and optimizer name of the config") from None
        for column, value in row.values.items():
            spec = by_column[column]
            report = reports.get((model, optimizer, seed, row.epoch, spec.testset))
            if report is None:
                raise ResearcherEvalError(f"brief row {row.model} / {row.optimizer} / epoch "
                                          f"{row.epoch}: no imported evaluation on "
                                          f"{spec.testset}")
            source = report["aggregate_sources"][spec.measure]
            field = source["field"] + (f" (line {source['line']})" if "line" in source else "")
            cells.append(ReconciledCell(row.model, row.optimizer, row.epoch, column, value,
                                        report["aggregate"][spec.measure], source["file"],
                                        field))
    return cells


def _number(value: float) -> str:
    return repr(float(value))


def write_reconciliation(path: str | Path, cells: Sequence[ReconciledCell]) -> None:
    lines = ["\t".join(RECONCILIATION_HEADER)]
    for c in cells:
        lines.append("\t".join([c.model, c.optimizer, str(c.epoch), c.column, f"{c.brief:.4f}",
                                _number(c.output), f"{c.rounded:.4f}", f"{c.difference:+.4f}",
                                c.status, c.file, c.field]))
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_reconciliation(path: str | Path) -> list[ReconciledCell]:
    """Parse reconciliation.tsv back, checking that each status matches its numbers."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header != RECONCILIATION_HEADER:
            raise ResearcherEvalError(f"{path}:1: header must be {RECONCILIATION_HEADER}, "
                                      f"got {header}")
        cells = []
        for line, fields in enumerate(reader, start=2):
            if not fields:
                continue
            if len(fields) != len(RECONCILIATION_HEADER):
                raise ResearcherEvalError(f"{path}:{line}: expected {len(RECONCILIATION_HEADER)} "
                                          f"fields, got {len(fields)}")
            try:
                cell = ReconciledCell(fields[0], fields[1], int(fields[2]), fields[3],
                                      float(fields[4]), float(fields[5]), fields[9], fields[10])
            except ValueError as error:
                raise ResearcherEvalError(f"{path}:{line}: {error}") from None
            if cell.status != fields[8]:
                raise ResearcherEvalError(f"{path}:{line}: status {fields[8]!r} does not match "
                                          f"the values ({cell.status})")
            cells.append(cell)
    if not cells:
        raise ResearcherEvalError(f"{path}: no cells")
    return cells
