"""crossopt.study: the one typed reader of the config, and the params slices the rules pass on.

The unit tests check the study and its slices without Snakemake. The last test dry-runs
Snakemake on the finished smoke study (tests/conftest.py) with one setting changed at a
time and checks that exactly the outputs that depend on it are scheduled.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

import pytest
import yaml

from conftest import run_snakemake
from crossopt.config import ConfigError
from crossopt.study import Column, Grid, StatisticsSettings, Study, columns_from

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "config" / "smoke.yaml"


def smoke_config() -> dict:
    return yaml.safe_load(SMOKE.read_text(encoding="utf-8"))


def test_study_from_the_smoke_config():
    study = Study.load(SMOKE)
    assert study.models == ["minilm", "gte", "modernbert"]
    assert study.grid.optimizers == {"adamw": "AdamW", "lion": "Lion"}
    assert study.seeds == [12, 13] and study.epochs == [1, 2, 3]
    assert study.reference == "adamw" and study.candidates == ["lion"]
    assert study.testsets == ("smoke-dl", "smoke-dev")
    assert study.columns[2] == Column("MRR@10", "smoke-dev", "recip_rank_10")
    assert [c.name for c in study.columns] == ["NDCG@10", "MAP", "MRR@10", "Recall@10", "R-Prec", "P@10"]
    assert study.column_testsets == ["smoke-dev", "smoke-dl"]
    assert study.extra_levels == [2]
    # Defaults come from the schema, not from the code.
    assert study.statistics == StatisticsSettings("adamw", 0.05, "perm", 10000, 10000, 0.95, 12)
    assert study.epoch_dirs("m", "o", 12)[-1] == "results/models/m/o/seed12/epoch3"
    assert len(study.evaluations()) == 3 * 2 * 2 * 3 * 2


def test_reference_optimizer_and_columns_follow_the_config():
    config = smoke_config()
    config["statistics"] = {"baseline_optimizer": "lion"}
    columns = config["table"]["columns"]
    config["table"]["columns"] = {name: columns[name] for name in reversed(list(columns))}
    study = Study.from_config(config)
    assert study.reference == "lion" and study.candidates == ["adamw"]
    assert [c.name for c in study.columns] == ["P@10", "R-Prec", "Recall@10", "MRR@10", "MAP", "NDCG@10"]


def test_betas_default_by_optimizer_type_in_the_schema():
    config = smoke_config()
    for spec in config["optimizers"].values():
        del spec["betas"]
    study = Study.from_config(config)
    assert study.run_settings("minilm", "adamw")["betas"] == [0.9, 0.999]
    assert study.run_settings("minilm", "lion")["betas"] == [0.9, 0.99]


def test_a_bad_config_names_the_key():
    config = smoke_config()
    config["statistics"] = {"permutations": 10}
    with pytest.raises(ConfigError, match=r"'statistics.permutations': 10 is less than the minimum of 100"):
        Study.from_config(config)
    config = smoke_config()
    config["statistics"] = {"baseline_optimizer": "sgd"}
    with pytest.raises(ConfigError, match=r"'statistics.baseline_optimizer': no such optimizer 'sgd'"):
        Study.from_config(config)


def test_slices_hold_what_their_script_uses_and_nothing_else():
    base = Study.from_config(smoke_config())
    renamed = smoke_config()
    renamed["models"]["minilm"]["name"] = "MiniLM (renamed)"
    renamed["testsets"]["smoke-dl"]["name"] = "Renamed DL"
    renamed = Study.from_config(renamed)
    # A display name reaches the table, not the statistics, the evaluations or the training.
    assert base.table_params() != renamed.table_params()
    assert base.statistics_params() == renamed.statistics_params()
    assert base.evaluation_params("smoke-dl") == renamed.evaluation_params("smoke-dl")
    assert base.model_spec("minilm") == renamed.model_spec("minilm") and "name" not in base.model_spec("minilm")
    # A statistics setting reaches the statistics, not the table.
    tuned = smoke_config()
    tuned["statistics"] = {"bootstrap_resamples": 500}
    tuned = Study.from_config(tuned)
    assert base.statistics_params() != tuned.statistics_params()
    assert base.table_params() == tuned.table_params()
    assert base.evaluation_params("smoke-dl") == {"relevance_level": 1, "missing_queries": "zero",
                                                 "extra_relevance_levels": [2]}


def test_slices_turn_back_into_the_typed_pieces():
    study = Study.load(SMOKE)
    table, stats = study.table_params(), study.statistics_params()
    assert Grid.from_params(table) == study.grid
    assert columns_from(table["columns"]) == study.columns == columns_from(stats["columns"])
    assert StatisticsSettings.from_params(stats["settings"]) == study.statistics
    assert Grid.from_params(stats).models == {m: m for m in study.models}  # keys only
    # Plain data: Snakemake compares params by repr, which a dataclass would escape.
    assert yaml.safe_load(yaml.safe_dump(table)) == table and yaml.safe_load(yaml.safe_dump(stats)) == stats


# --------------------------------------------------------------------------- no script reads the config


def config_reads(source: str) -> list[int]:
    """Lines where Python source reads `snakemake.config`."""
    return sorted(node.lineno for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.Attribute) and node.attr == "config"
                  and isinstance(node.value, ast.Name) and node.value.id == "snakemake")


def rule_scripts() -> dict[str, Path]:
    """{rule file:line: script} of every `script:` directive in the rules."""
    scripts = {}
    for rules in sorted((ROOT / "rules").glob("*.smk")):
        lines = rules.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if line.strip() == "script:":
                target = lines[number + 1].strip().strip("\"'")
                scripts[f"{rules.name}:{number + 2}"] = (rules.parent / target).resolve()
    return scripts


def test_the_config_read_check_finds_a_read():
    assert config_reads("x = snakemake.config['statistics']\nmain(snakemake.params.a)\n") == [1]
    assert config_reads("main(snakemake.params.config)\n") == []


def test_no_script_reads_the_whole_config():
    """Scripts get their settings as params, so Snakemake reruns them when a setting changes."""
    scripts = rule_scripts()
    assert len(scripts) > 20
    missing = [f"{where}: {path}" for where, path in scripts.items() if not path.is_file()]
    assert not missing
    offenders = {f"{path.name}:{line}" for path in {*scripts.values(), *(ROOT / "scripts").glob("*.py")}
                 for line in config_reads(path.read_text(encoding="utf-8"))}
    assert not offenders, f"scripts read snakemake.config instead of params: {sorted(offenders)}"
    # Shell commands take settings from {params}, never straight from {config}.
    shell_reads = [f"{rules.name}" for rules in (ROOT / "rules").glob("*.smk")
                   if re.search(r"\{config[\[.]", rules.read_text(encoding="utf-8"))]
    assert not shell_reads


# --------------------------------------------------------------------------- what a change reruns


def scheduled(study_dir: Path, config: dict, tmp_path: Path) -> set[str]:
    """Outputs a dry run of `all` would (re)build in the finished study with `config`."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    result = run_snakemake(study_dir, "--summary", "all", configfile=path)
    rows = [line.split("\t") for line in result.stdout.splitlines()[1:] if "\t" in line]
    return {row[0] for row in rows if row[-1] != "no update"}


# Outputs of the paper's rules: they receive the paper's whole config section (crossopt.paper),
# so the paper is rebuilt on every change that reaches it; only its PDF is asserted.
PAPER = re.compile(r"^(results/paper/|results/figures/|paper/build/)")
STATISTICS = {"results/stats/significance.tsv", "results/stats/means.tsv"}
TABLES = {"results/table.tsv", "results/table_level2.tsv"}


def changed(config: dict, path: str, value) -> dict:
    config = copy.deepcopy(config)
    *parents, key = path.split(".")
    section = config
    for parent in parents:
        section = section.setdefault(parent, {})
    section[key] = value
    return config


@pytest.mark.slow
def test_each_setting_reruns_exactly_what_depends_on_it(smoke_study, tmp_path):
    base = smoke_config()
    assert scheduled(smoke_study, base, tmp_path) == set(), "the smoke study is not finished"
    curves = {"results/figures/training_curves.pdf", "results/paper/training.tex"}  # legend: optimizer names
    # setting: (new value, outputs outside the paper, paper outputs that must / must not be rebuilt)
    cases = {
        "statistics.permutations": (2000, STATISTICS, set(), curves),
        "statistics.bootstrap_resamples": (2000, STATISTICS, set(), curves),
        "statistics.seed": (99, STATISTICS, set(), curves),
        "models.gte.name": ("GTE (renamed)", TABLES, set(), curves),
        "optimizers.lion.name": ("Lion (renamed)", TABLES, curves, set()),
        "testsets.smoke-dev.name": ("Dev (renamed)", set(), set(), curves),  # the table shows no test-set names
    }
    for path, (value, expected, rebuilt, kept) in cases.items():
        outputs = scheduled(smoke_study, changed(base, path, value), tmp_path)
        assert {o for o in outputs if not PAPER.match(o)} == expected, (path, sorted(outputs))
        assert {"paper/build/main.pdf", *rebuilt} <= outputs and not kept & outputs, (path, sorted(outputs))
    # Where a job would run (the Modal section) makes nothing stale.
    assert scheduled(smoke_study, changed(base, "modal.train.gpu", "A100-80GB"), tmp_path) == set()
