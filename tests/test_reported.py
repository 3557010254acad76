"""Reported results: the researcher's own evaluation files, their import into the workflow's
evaluation layout, the table built from them, and the reconciliation with the brief's table.

The checks against the real files read data/researcher-eval (the researcher's files, copied
with their sha256) directly: json and a regular expression, not the module under test.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from crossopt import researcher_eval as rv
from crossopt.evaluate import eval_locator, report_reader
from crossopt.paper import MEASURES, read_results
from crossopt.table import table_rows, write_table
from crossopt.study import Study

ROOT = Path(__file__).resolve().parents[1]
BRIEF_TABLE = ROOT / "data" / "brief" / "table.tsv"
SHARED = ROOT.parent / "shared" / "study"
BRIEF = SHARED / "request.txt"
FILES = ROOT / "data" / "researcher-eval"
SHARED_FILES = SHARED / "researcher-eval"
needs_files = pytest.mark.skipif(
    not FILES.is_dir(), reason=f"the researcher's evaluation files are not at {FILES}; see README, 'The paper'")


def test_the_copied_files_are_the_researchers_byte_for_byte():
    """data/researcher-eval holds exactly the files SHA256SUMS lists, with those hashes, and
    (where ../shared exists) the same bytes as the copy there."""
    import hashlib

    listed = {}
    for line in (FILES / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name] = digest
    present = {str(p.relative_to(FILES)) for p in FILES.rglob("*") if p.is_file()} - {"SHA256SUMS", "README.md"}
    assert present == set(listed) and len(listed) == 19  # 3 models x 2 optimizers x 3 epochs + mrrs.txt
    for name, digest in listed.items():
        assert hashlib.sha256((FILES / name).read_bytes()).hexdigest() == digest, name
    if SHARED_FILES.is_dir():
        for name in listed:
            assert (SHARED_FILES / name).read_bytes() == (FILES / name).read_bytes(), name
# The brief's spelling of model names -> the display names used in the TSV and config.
BRIEF_NAMES = {"MiniLM-L12-H384": "MiniLM-L12-H384",
               "GTE-multilingual-base": "GTE-multilingual-base",
               "Modern-BERT-base": "ModernBERT-base"}
# Independent of the module: the researcher's folders per display name, and trec_eval
# fields per table column.
FOLDERS = {"MiniLM-L12-H384": "mini_lm", "GTE-multilingual-base": "gte",
           "ModernBERT-base": "modern_bert"}
OPTIM_FOLDERS = {("modern_bert", "AdamW"): "adamW"}
FIELDS = {"NDCG@10": "ndcg_cut_10", "MAP": "map", "Recall@10": "recall_10", "R-Prec": "Rprec",
          "P@10": "P_10"}
MRR_LABELS = {"MiniLM-L12-H384": "MiniLM", "GTE-multilingual-base": "gte",
              "ModernBERT-base": "modernBERT"}


def real_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the brief's table


def brief_rows(text: str) -> dict[tuple[str, str, int], dict[str, float]]:
    """Parse the brief's markdown table; blank model/optimizer cells repeat the row above."""
    rows, model, optimizer = {}, None, None
    for line in text.splitlines():
        if not line.startswith("|") or "---" in line or "Base Model" in line:
            continue
        cells = [c.strip().replace("*", "") for c in line.strip().strip("|").split("|")]
        model = BRIEF_NAMES[cells[0]] if cells[0] else model
        optimizer = cells[1] or optimizer
        rows[(model, optimizer, int(cells[2]))] = dict(zip(MEASURES, map(float, cells[3:])))
    return rows


def test_brief_table_parses_with_expected_shape():
    rows = read_results(BRIEF_TABLE)
    assert len(rows) == 18
    assert not any(r.is_baseline for r in rows)
    assert {r.model for r in rows} == set(BRIEF_NAMES.values())
    assert {r.optimizer for r in rows} == {"AdamW", "Lion"}
    assert {r.epoch for r in rows} == {1, 2, 3}


def test_every_transcribed_value_matches_the_brief():
    if not BRIEF.exists():
        pytest.skip(f"the researcher's brief is not available at {BRIEF} (../shared absent)")
    expected = brief_rows(BRIEF.read_text(encoding="utf-8"))
    assert len(expected) == 18, "the brief's table no longer parses into 18 rows"
    transcribed = {(r.model, r.optimizer, r.epoch): dict(r.values) for r in read_results(BRIEF_TABLE)}
    assert transcribed.keys() == expected.keys()
    for key, values in expected.items():
        for measure, value in values.items():
            assert transcribed[key][measure] == value, f"{key} {measure}"


def test_transcribed_values_keep_four_decimals():
    """Values are copied as printed, not re-rounded or re-typed with fewer digits."""
    lines = BRIEF_TABLE.read_text(encoding="utf-8").splitlines()[1:]
    for number, line in enumerate(lines, start=2):
        for cell in line.split("\t")[3:]:
            assert len(cell.split(".")[1]) == 4, f"{BRIEF_TABLE}:{number}: {cell!r}"


# --------------------------------------------------------------------------- reading the files


MRRS = """\
gte + Lion

ep1 = {
    "mrr_at_10": 0.5853787990097338
}

ep2 = {
    "mrr_at_10": 0.59
}

MiniLM + AdamW

ep1 = {
    "mrr_at_10": 0.5828480348710269
}
"""


def test_read_mrrs_maps_labels_to_config_keys(tmp_path):
    path = tmp_path / "mrrs.txt"
    path.write_text(MRRS, encoding="utf-8")
    values = rv.read_mrrs(path)
    assert [(v.model, v.optimizer, v.epoch) for v in values] == [
        ("gte", "lion", 1), ("gte", "lion", 2), ("minilm", "adamw", 1)]
    assert values[0].value == 0.5853787990097338 and values[0].line == 3
    assert values[2].label == "MiniLM + AdamW"


@pytest.mark.parametrize(("text", "message"), [
    (MRRS.replace("ep2 = {", "ep2 = ["), r":7: expected 'model \+ optimizer'"),
    (MRRS.replace('"mrr_at_10": 0.59', '"mrr": 0.59'), r":7: no numeric 'mrr_at_10'"),
    (MRRS.replace('"mrr_at_10": 0.59', '"mrr_at_10": 0.59,'), r":7: block is not JSON"),
    (MRRS.replace("ep2 = {", "ep1 = {"), r":7: gte \+ Lion epoch 1 already given on line 3"),
    ("ep1 = {\n \"mrr_at_10\": 0.5\n}\n", r":1: epoch block before any"),
    (MRRS.rstrip("}\n"), r":13: block is not closed"),
])
def test_read_mrrs_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "mrrs.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(rv.ResearcherEvalError, match=re.escape(str(path)) + message):
        rv.read_mrrs(path)


def test_name_key_and_runid_steps():
    assert [rv.name_key(n) for n in ("mini_lm", "modern_bert", "adamW", "MiniLM", "gte")] == \
        ["minilm", "modernbert", "adamw", "minilm", "gte"]
    assert rv.steps_from_runid("checkpoint-3887") == 3887
    assert rv.steps_from_runid("final") is None


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(rv.ResearcherEvalError, match=r"paper\.reported_eval: .*absent.* is not a folder"):
        rv.locate_files(tmp_path / "absent", ["minilm"], ["adamw"], 1)
    (tmp_path / "mini_lm" / "Adam").mkdir(parents=True)
    with pytest.raises(rv.ResearcherEvalError, match=r"no folder for optimizer 'adamw' \(found \['Adam'\]"):
        rv.locate_files(tmp_path, ["minilm"], ["adamw"], 1)


def test_a_malformed_trec_eval_file_is_named(tmp_path):
    path = tmp_path / "ep1.json"
    path.write_text(json.dumps({"runid": "final", "map": "n/a"}), encoding="utf-8")
    with pytest.raises(rv.ResearcherEvalError, match=re.escape(str(path)) + ": field 'map'"):
        rv.read_trec_eval_json(path)


def test_reconciled_cell_status_rounding_and_truncation():
    def cell(brief, output):
        return rv.ReconciledCell("M", "O", 1, "MRR@10", brief, output, "f", "x")

    assert cell(0.5908, 0.590780356135686).status == rv.AGREES
    truncated = cell(0.5907, 0.590780356135686)
    assert truncated.status == rv.TRUNCATED and truncated.difference == -0.0001
    assert cell(0.6785, 0.697).status == rv.DIFFERS
    assert cell(0.6785, 0.697).difference == pytest.approx(-0.0185)


# --------------------------------------------------------------------------- the real files


def independent_outputs() -> dict[tuple[str, str, int, str], tuple[float, str]]:
    """(model, optimizer, epoch, column) -> (value, file) read straight from the files."""
    out = {}
    text = (FILES / "mrrs.txt").read_text(encoding="utf-8")
    mrr, heading = {}, None
    for line in text.splitlines():
        if " + " in line:
            heading = tuple(line.strip().split(" + "))
        elif match := re.match(r"ep(\d)\s*=", line):
            epoch = int(match.group(1))
        elif match := re.search(r'"mrr_at_10":\s*([0-9.]+)', line):
            mrr[(heading[0], heading[1], epoch)] = float(match.group(1))
    for model, folder in FOLDERS.items():
        for optimizer in ("AdamW", "Lion"):
            sub = OPTIM_FOLDERS.get((folder, optimizer), optimizer)
            for epoch in (1, 2, 3):
                path = FILES / folder / sub / f"ep{epoch}.json"
                record = json.loads(path.read_text(encoding="utf-8"))
                for column, field in FIELDS.items():
                    out[(model, optimizer, epoch, column)] = (record[field], str(path))
                out[(model, optimizer, epoch, "MRR@10")] = (
                    mrr[(MRR_LABELS[model], optimizer, epoch)], str(FILES / "mrrs.txt"))
    return out


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The import and the table, as the rules run them, into a scratch folder."""
    config = real_config()
    config["paper"].setdefault("reported_relevance_level", 1)
    folder = tmp_path_factory.mktemp("reported")
    pattern = str(folder / "eval/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.json")
    reports = rv.import_evaluations(FILES, config)
    rv.write_reports(reports, eval_locator(pattern))
    # config.yaml leaves the training data unpinned on purpose; the table does not read it.
    study = Study.from_config({**config, "data": {**config["data"], "hf_revision": "unpinned"}})
    write_table(folder / "table.tsv", study.columns, table_rows(study.grid, study.columns, eval_locator(pattern), {},
                                                                reports=report_reader()))
    return config, reports, folder


@needs_files
def test_every_cell_of_the_reported_table_matches_the_files(imported):
    config, _, folder = imported
    outputs = independent_outputs()
    rows = read_results(folder / "table.tsv")
    assert len(rows) == 18 and not any(r.is_baseline for r in rows)  # no BM25 in these files
    lines = (folder / "table.tsv").read_text(encoding="utf-8").splitlines()[1:]
    checked = 0
    for line in lines:
        model, optimizer, epoch, *cells = line.split("\t")
        for column, cell in zip(MEASURES, cells):
            value, path = outputs[(model, optimizer, int(epoch), column)]
            # Rounded, not truncated, to 4 decimals (decimal half-up on the printed value).
            assert cell == f"{math.floor(value * 10**4 + 0.5) / 10**4:.4f}", \
                f"{model} {optimizer} {epoch} {column}: table {cell}, {path} has {value}"
            checked += 1
    assert checked == 108


@needs_files
def test_imported_reports_are_aggregate_only_and_name_their_sources(imported):
    config, reports, _ = imported
    assert len(reports) == 36
    for (model, optim, seed, epoch, testset), report in reports.items():
        assert report["per_query"] is None and "aggregate values only" in report["per_query_note"]
        for measure, value in report["aggregate"].items():
            source = report["aggregate_sources"][measure]
            if source["file"] == "mrrs.txt":
                assert measure == "recip_rank_10" and str(epoch) in source["field"]
                line = (FILES / "mrrs.txt").read_text().splitlines()[source["line"] - 1]
                assert line.strip() == f"ep{epoch} = {{"
            else:
                raw = json.loads((FILES / source["file"]).read_text())
                assert raw[source["field"]] == value
                assert raw["runid"] == report["runid"]
    dl = reports[("gte", "lion", 12, 1, "dl19")]
    assert dl["relevance_level"] == 1 and dl["n_queries"] == 43
    assert dl["aggregate"]["recall_1000"] == 0.7389  # the BM25 pool's recall at level 1


@needs_files
def test_reconciliation_count_matches_an_independent_count(imported, tmp_path):
    config, reports, _ = imported
    study = Study.from_config({**config, "data": {**config["data"], "hf_revision": "unpinned"}})
    cells = rv.reconcile(read_results(BRIEF_TABLE), reports, study.grid, study.columns)
    rv.write_reconciliation(tmp_path / "reconciliation.tsv", cells)
    back = rv.read_reconciliation(tmp_path / "reconciliation.tsv")
    assert len(back) == len(cells) == 108
    outputs = independent_outputs()
    differing = set()
    for line in BRIEF_TABLE.read_text(encoding="utf-8").splitlines()[1:]:
        model, optimizer, epoch, *values = line.split("\t")
        for column, text in zip(MEASURES, values):
            value, _ = outputs[(model, optimizer, int(epoch), column)]
            if text != f"{math.floor(value * 10**4 + 0.5) / 10**4:.4f}":
                differing.add((model, optimizer, int(epoch), column))
    generated = {(c.model, c.optimizer, c.epoch, c.column) for c in back if c.status != rv.AGREES}
    assert generated == differing
    assert len(differing) == 46  # as found by reading the files cell by cell
    truncated = {(c.model, c.column) for c in back if c.status == rv.TRUNCATED}
    assert truncated == {("ModernBERT-base", "MRR@10")}
    assert sum(c.status == rv.TRUNCATED for c in back) == 4
    gte = {c.epoch: c for c in back if (c.model, c.optimizer, c.column) ==
           ("GTE-multilingual-base", "Lion", "NDCG@10")}
    assert [gte[e].rounded for e in (1, 2, 3)] == [0.697, 0.6792, 0.6571]
    assert gte[1].file == "gte/Lion/ep1.json" and gte[1].field == "ndcg_cut_10"
