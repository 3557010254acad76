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


# --------------------------------------------------------------------------- steps, batches


def steps_from_files() -> dict[str, set[int]]:
    """Per researcher folder: the steps per epoch that the checkpoint runids give, read with a
    regular expression (checkpoint-<steps>), epoch e's runid carrying e times that count."""
    out = {}
    for model, folder in FOLDERS.items():
        counts = set()
        for sub in (FILES / folder).iterdir():
            for epoch in (1, 2, 3):
                runid = json.loads((sub / f"ep{epoch}.json").read_text())["runid"]
                if match := re.search(r"checkpoint-(\d+)", runid):
                    assert int(match.group(1)) % epoch == 0, (sub, epoch, runid)
                    counts.add(int(match.group(1)) // epoch)
        out[model] = counts
    return out


@needs_files
def test_steps_per_epoch_and_the_inferred_batches_come_from_the_files(imported):
    """The provenance table's step counts are the files' (read here independently of the
    module), and its effective batches are the device counts whose ceil(pairs / batch)
    reproduces them, the arithmetic computed here, not copied from the sentence."""
    from crossopt import original_study, paper_reported

    config, reports, folder = imported
    by_folder = steps_from_files()
    assert all(len(counts) == 1 for counts in by_folder.values()), by_folder
    files_steps = {model: counts.pop() for model, counts in by_folder.items()}
    keys = {spec["name"]: key for key, spec in config["models"].items()}
    pattern = str(folder / "eval/{model}/{optim}/seed{seed}/epoch{epoch}/{testset}.json")
    imported_reports = paper_reported.load_imported(eval_locator(pattern), config)
    facts = paper_reported.steps_per_epoch(imported_reports, config)
    assert {name: facts[keys[name]]["per_epoch"] for name in files_steps} == files_steps

    study = Study.from_config({**config, "data": {**config["data"], "hf_revision": "unpinned"}})
    cells = rv.reconcile(read_results(BRIEF_TABLE), reports, study.grid, study.columns)
    macros = paper_reported.reported_macros(cells, read_results(BRIEF_TABLE),
                                            read_results(folder / "table.tsv"), imported_reports, config)
    train_pairs = config["data"]["pairs"] - config["data"]["heldout"]
    per_device = config["training"]["batch_size"]
    sentence = macros["BatchInferenceSentence"]
    for name, steps in files_steps.items():
        key = keys[name]
        devices = int(macros[f"Devices{key.capitalize()}"])
        batch = int(macros[f"BatchInferred{key.capitalize()}"])
        assert batch == devices * per_device
        quotient = train_pairs / batch
        # The chosen device count is the one whose ceiling comes nearest the files' count.
        best = min(abs(math.ceil(train_pairs / (n * per_device)) - steps) for n in range(1, 17))
        assert abs(math.ceil(quotient) - steps) == best <= 1
        def grouped(value) -> str:  # thousands as the paper groups them: 1{,}990{,}000
            return f"{value:,}".replace(",", "{,}")

        if math.ceil(quotient) == steps:
            assert f"\\lceil {grouped(train_pairs)}/{grouped(batch)} \\rceil = {grouped(steps)}$" \
                in sentence, (name, sentence)
        else:
            assert f"{grouped(train_pairs)}/{grouped(batch)} = {grouped(round(quotient, 1))}$" \
                in sentence, (name, sentence)
    assert "inference" in sentence and "no source gives the number of GPUs" in sentence


def test_effective_batch_finds_the_device_count_and_says_when_it_is_not_exact():
    from crossopt.original_study import effective_batch

    # 1,000 pairs, 10 per device: 5 devices give exactly ceil(1000/50) = 20 steps.
    assert effective_batch(20, 1000, 10) | {} == {"devices": 5, "batch": 50, "quotient": 20.0,
                                                  "ceiling": 20, "exact": True}
    fit = effective_batch(34, 1000, 10)  # 3 devices: 33.3..., ceiling 34
    assert fit["devices"] == 3 and fit["exact"]
    fit = effective_batch(33, 1000, 10)  # no count of devices gives 33 exactly
    assert not fit["exact"] and fit["devices"] == 3
    with pytest.raises(ValueError):
        effective_batch(0, 1000, 10)


# --------------------------------------------------------------------------- the original documents

FACTS = ROOT / "data" / "original-study" / "facts.yaml"
MIRROR = Path("/work/.mirror/skfrost19+cross-encoder-modal/repo")


def test_the_facts_file_names_the_commit_of_the_evaluation_files():
    from crossopt import original_study

    facts = original_study.load_facts(FACTS)
    assert facts["commit"] in (FILES / "README.md").read_text()
    for name, fact in facts["facts"].items():
        for source in fact["sources"]:
            assert source["doc"] in facts["documents"], name


def test_a_fact_whose_line_does_not_say_it_is_reported():
    from crossopt import original_study

    facts = {"documents": {"paper": {"path": "p.tex"}},
             "facts": {"gpu": {"value": "X", "sources": [{"doc": "paper", "line": 2, "match": "A100"}]}}}
    assert original_study.check_sources(facts, lambda path: "one\nuses an A100\n") == []
    problems = original_study.check_sources(facts, lambda path: "one\nuses an H100\n")
    assert problems and "p.tex:2" in problems[0]
    assert original_study.check_sources(facts, lambda path: "one line only")  # out of range


@pytest.mark.skipif(not MIRROR.is_dir(), reason=f"no snapshot of the researcher's repository at {MIRROR}")
def test_every_fact_is_on_the_line_it_names_at_the_commit():
    """Against a git snapshot of the researcher's repository: each fact's line, at the commit
    the facts file names, contains its match string."""
    import subprocess

    from crossopt import original_study

    facts = original_study.load_facts(FACTS)

    def read(path: str) -> str:
        return subprocess.run(["git", f"--git-dir={MIRROR}", "show", f"{facts['commit']}:{path}"],
                              capture_output=True, text=True, check=True).stdout

    assert original_study.check_sources(facts, read) == []


def test_original_study_macros_format_the_documents_values():
    from crossopt import original_study

    facts = original_study.load_facts(FACTS)
    macros = original_study.macros(facts, real_config())
    assert macros["OrigLrModernbertAdamw"] == "\\ensuremath{2\\times 10^{-5}}"
    assert macros["OrigLrModernbertLion"] == "\\ensuremath{2\\times 10^{-6}}"
    assert macros["OrigBatchThesis"] == "16" and macros["OrigHeldout"] == "10{,}000"
    assert "8{,}192 (ModernBERT-base)" in macros["OrigMaxLengths"]


# --------------------------------------------------------------------------- the recipe search


def test_recipe_search_sentence_names_the_committed_tries_at_chance():
    """The first search's AdamW 2e-4 try ended near ln 2 (last logged loss 0.6881 at epoch 2),
    so a sentence about what the search saw must name it; read here from the TSV itself."""
    from crossopt import recipe_search
    from crossopt.recipe_search import STUCK_MARGIN
    from crossopt.replication import CHANCE_LOSS

    path = ROOT / "data" / "scifact" / "recipe_search.tsv"
    lines = [l.split("\t") for l in path.read_text().splitlines()]
    header = lines[0]
    # The first search: its rows have no epoch mean loss (the second search's do).
    rows = [r for r in (dict(zip(header, l)) for l in lines[1:]) if not r.get("epoch_mean_loss")]
    last = {}
    for r in rows:
        if r["optim"] != "-" and int(r["epoch"]) >= int(last.get(r["name"], {"epoch": 0})["epoch"]):
            last[r["name"]] = r
    at_chance = [r for r in last.values() if float(r["final_loss"]) >= (1 - STUCK_MARGIN) * CHANCE_LOSS]
    assert any(r["optim"] == "adamw" and float(r["lr"]) == 2e-4 for r in at_chance)
    first = [t for t in recipe_search.read_tries(path) if t.loss_kind == "last"]
    sentence = recipe_search.chance_sentence(first)
    assert recipe_search.macros([path])["RecipeChanceSentence"].startswith(
        sentence.replace("The recipe search", "The first recipe search"))
    words = {1: "One", 2: "Two", 3: "Three", 4: "Four", 5: "Five"}
    assert sentence.count(f"{words[len(at_chance)]} of its {len(last)}".replace("6", "six")) == 1
    assert "AdamW at \\ensuremath{2\\times 10^{-4}} after two epochs (0.688)" in sentence
    assert "could not tell" in sentence  # one seed per grid point


def test_recipe_search_sentence_with_seeds_that_disagree(tmp_path):
    from crossopt import recipe_search

    header = "date\tname\toptim\tlr\thead_lr\tepoch\tfinal_loss\tseed\tweight_decay\tepoch_mean_loss\n"
    rows = ["d\ta-s1\tadamw\t1e-4\t1e-3\t1\t0.5\t1\t0.01\t0.50\n",
            "d\ta-s2\tadamw\t1e-4\t1e-3\t1\t0.69\t2\t0.01\t0.692\n",
            "d\tl-s1\tlion\t1e-5\t1e-4\t1\t0.4\t1\t0.03\t0.41\n",
            "d\tl-s2\tlion\t1e-5\t1e-4\t1\t0.4\t2\t0.03\t0.42\n"]
    path = tmp_path / "recipe_search.tsv"
    path.write_text(header + "".join(rows))
    sentence = recipe_search.chance_sentence(recipe_search.read_tries(path))
    assert "One of its four runs" in sentence and "at seed 2 (0.692)" in sentence
    assert "one seed trained and another did not" in sentence
    path.write_text(header + rows[0] + rows[2])
    assert "None ended" in recipe_search.chance_sentence(recipe_search.read_tries(path))


@needs_files
def test_the_original_batch_overlay_gives_the_effective_batches_the_files_imply():
    """config/original-batch.yaml: batch_size x gradient_accumulation_steps equals, for every
    model, the batch whose ceil(pairs / batch) is nearest the files' steps per epoch (computed
    here from the runids, not copied from the overlay)."""
    from crossopt.config import compose_config, run_settings, validate_config

    config = validate_config(compose_config([ROOT / "config.yaml", ROOT / "config" / "rerun.yaml",
                                             ROOT / "config" / "original-batch.yaml"], None, ROOT / "config.yaml"))
    keys = {spec["name"]: key for key, spec in config["models"].items()}
    train_pairs = config["data"]["pairs"] - config["data"]["heldout"]
    per_device = config["training"]["batch_size"]
    for name, counts in steps_from_files().items():
        steps = counts.pop()
        best = min(range(1, 17), key=lambda n: (abs(math.ceil(train_pairs / (n * per_device)) - steps),
                                                abs(train_pairs / (n * per_device) - steps)))
        settings = run_settings(config, keys[name], "adamw")
        assert settings["batch_size"] * settings["gradient_accumulation_steps"] == best * per_device, name
    # Without the overlay every model steps on each batch of 64, as the brief states.
    plain = validate_config(compose_config([ROOT / "config.yaml"], None, ROOT / "config.yaml"))
    assert all("gradient_accumulation_steps" not in run_settings(plain, key, "adamw") for key in plain["models"])
