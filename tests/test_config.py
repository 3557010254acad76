import copy
import re
from pathlib import Path

import pytest
import yaml

from crossopt.config import (ConfigError, compose_config, load_config, run_settings, training_data_pin_error,
                             validate_config)

ROOT = Path(__file__).resolve().parent.parent


# config.yaml leaves the training data's commit to be filled in; tests pin a stand-in.
PINNED = {"data": {"hf_revision": "0" * 40}, "training": {"evaluator": {"revision": "0" * 40}}}


def smoke():
    return yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())


def real_config() -> dict:
    return validate_config(compose_config([], PINNED, ROOT / "config.yaml"))


@pytest.mark.parametrize("name", ["config.yaml", "config/smoke.yaml"])
def test_shipped_configs_validate(name):
    config = real_config() if name == "config.yaml" else load_config(ROOT / name)
    assert set(config["optimizers"]) == {"adamw", "lion"}
    assert set(config["models"]) == {"minilm", "gte", "modernbert"}
    assert config["study"]["epochs"] == 3


def test_real_config_matches_the_brief():
    config = real_config()
    assert config["study"]["seeds"] == [12]
    assert config["training"]["batch_size"] == 64
    assert config["data"]["pairs"] == 2_000_000
    assert config["models"]["minilm"]["learning_rate"] == 2e-5
    assert config["models"]["gte"]["learning_rate"] == 2e-5
    assert config["models"]["modernbert"]["learning_rate"] == 2e-6
    # The schedules the brief's code ran (crossopt.train docstring, tests/test_schedules.py).
    assert config["models"]["minilm"]["scheduler"] == config["models"]["gte"]["scheduler"] == "trainer_default"
    assert config["models"]["modernbert"]["scheduler"] == "constant"
    assert config["optimizers"]["lion"]["betas"] == [0.9, 0.99]
    assert all(o["weight_decay"] == 0.01 for o in config["optimizers"].values())
    # gte runs on this project's implementation of its architecture, not the hub's code.
    assert config["models"]["gte"]["local_code"] == "gte" and not config["models"]["gte"]["trust_remote_code"]
    assert all(len(m["revision"]) == 40 for m in config["models"].values())


def test_unknown_key_is_named():
    config = smoke()
    config["models"]["minilm"]["lerning_rate"] = 1e-3
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert "unknown key 'lerning_rate' in 'models.minilm'" in str(error.value)


def test_wrong_type_is_named():
    config = smoke()
    config["training"]["batch_size"] = "sixty-four"
    with pytest.raises(ConfigError, match=r"'training.batch_size': 'sixty-four' is not of type 'integer'"):
        validate_config(config)


def test_missing_required_key_is_named():
    config = smoke()
    del config["models"]["gte"]["learning_rate"]
    with pytest.raises(ConfigError, match=r"missing required key 'models.gte.learning_rate'"):
        validate_config(config)


def test_hub_model_needs_a_pinned_revision():
    config = smoke()
    config["models"]["gte"] = {"name": "GTE", "source": "hub", "hub_id": "x/y", "learning_rate": 1e-5, "scheduler": "trainer_default"}
    with pytest.raises(ConfigError, match="revision"):
        validate_config(config)


def test_bad_enum_and_cross_references():
    config = smoke()
    config["optimizers"]["lion"]["type"] = "sgd"
    with pytest.raises(ConfigError, match=r"'optimizers.lion.type'"):
        validate_config(config)
    config = smoke()
    config["overrides"] = {"bert": {"lion": {"learning_rate": 1e-4}}}
    with pytest.raises(ConfigError, match=r"'overrides.bert': no such model"):
        validate_config(config)
    config = smoke()
    config["table"]["columns"]["MAP"]["testset"] = "dl20"
    with pytest.raises(ConfigError, match=r"'table.columns.MAP.testset': no such test set 'dl20'"):
        validate_config(config)


def test_defaults_are_filled_and_overrides_apply():
    raw = smoke()
    del raw["testsets"]["smoke-dl"]["missing_queries"]
    config = validate_config(raw)
    assert config["testsets"]["smoke-dl"]["missing_queries"] == "zero"  # trec_eval -c, as Pyserini's BEIR numbers
    assert config["training"]["decay_bias_and_norm"] is True
    lion = run_settings(config, "minilm", "lion")
    adamw = run_settings(config, "minilm", "adamw")
    assert lion["learning_rate"] == 1e-4 and adamw["learning_rate"] == 5e-4
    assert lion["optimizer_type"] == "lion" and lion["betas"] == [0.9, 0.99]
    with pytest.raises(ConfigError, match="unknown model key 'bert'"):
        run_settings(config, "bert", "lion")


def test_validation_does_not_depend_on_key_order():
    a = validate_config(smoke())
    b = validate_config(dict(reversed(list(copy.deepcopy(smoke()).items()))))
    assert a == b


def _pip_pins(env_file) -> list[str]:
    env = yaml.safe_load(env_file.read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def test_conda_environment_pins_match_requirements():
    requirements = {
        line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    # The whole study's environment holds every pin; each stage's holds some of them, unchanged.
    assert set(_pip_pins(ROOT / "envs" / "study.yaml")) - {"torch==2.13.0"} == requirements
    stages = sorted((ROOT / "envs").glob("*.yaml"))
    assert {p.stem for p in stages} >= {"study", "training", "evaluation", "paper"}
    for env_file in stages:
        pins = set(_pip_pins(env_file))
        assert pins - {"torch==2.13.0"} <= requirements, (env_file.name, sorted(pins - requirements))
    assert "pytrec-eval-terrier==0.5.11" in _pip_pins(ROOT / "envs" / "evaluation.yaml")
    assert {"torch==2.13.0", "sentence-transformers[train]==6.2.0"} <= set(_pip_pins(ROOT / "envs" / "training.yaml"))
    paper = yaml.safe_load((ROOT / "envs" / "paper.yaml").read_text())["dependencies"]
    assert {"latexmk", "texlive-core"} <= {d for d in paper if isinstance(d, str)}


def test_every_rule_names_an_existing_conda_environment():
    named = {}
    for rules in sorted((ROOT / "rules").glob("*.smk")):
        lines = rules.read_text().splitlines()
        for number, line in enumerate(lines):
            if line.strip() == "conda:":
                named[f"{rules.name}:{number + 2}"] = (rules.parent / lines[number + 1].strip().strip('"')).resolve()
    assert len(named) > 25
    assert not [where for where, path in named.items() if not path.is_file()]
    assert {path.stem for path in named.values()} == {"study", "training", "evaluation", "paper"}


def test_non_finite_numbers_are_rejected_everywhere():
    config = smoke()
    config["models"]["minilm"]["learning_rate"] = float("nan")
    config["optimizers"]["lion"]["betas"] = [0.9, float("inf")]
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    assert "'models.minilm.learning_rate': nan is not a finite number" in str(error.value)
    assert "'optimizers.lion.betas.1': inf is not a finite number" in str(error.value)


def test_metric_for_best_model_must_be_a_metric_of_the_evaluator():
    config = smoke()
    config["training"]["metric_for_best_model"] = "eval_heldout_ndcg@100"
    with pytest.raises(ConfigError, match=r"'training.metric_for_best_model': 'eval_heldout_ndcg@100' is not a metric "
                                          r"of the heldout evaluator \(it logs: eval_loss, eval_heldout_map"):
        validate_config(config)
    for good in ("eval_heldout_mrr@10", "heldout_ndcg@10", "eval_loss"):
        config = smoke()
        config["training"]["metric_for_best_model"] = good
        validate_config(config)
    config = smoke()
    config["training"]["evaluator"] = {"type": "nanobeir"}
    config["training"]["metric_for_best_model"] = "eval_heldout_ndcg@10"
    with pytest.raises(ConfigError, match="not a metric of the nanobeir evaluator"):
        validate_config(config)
    for good in ("eval_NanoBEIR_R100_mean_ndcg@10", "eval_NanoMSMARCO_R100_mrr@10"):
        config["training"]["metric_for_best_model"] = good
        validate_config(config)


def test_real_config_refuses_to_run_without_a_pinned_training_set():
    # The config itself is valid (the paper from reported outputs needs no training data);
    # a run that needs the training pairs stops while it is planned (tests/test_overlays.py).
    problem = training_data_pin_error(load_config(ROOT / "config.yaml"))
    assert re.match(r"missing required key 'data.hf_revision'.*HfApi\(\)\.dataset_info", problem), problem
    assert training_data_pin_error(compose_config([], PINNED, ROOT / "config.yaml")) is None
    assert training_data_pin_error(load_config(ROOT / "config" / "smoke.yaml")) is None
    config = compose_config([], {"data": {"hf_revision": "main"}}, ROOT / "config.yaml")
    with pytest.raises(ConfigError, match=r"'data.hf_revision': 'main' does not match"):
        validate_config(config)
    # The NanoBEIR evaluator's data is pinned the same way, before any job starts.
    data_only = compose_config([], {"data": {"hf_revision": "0" * 40}}, ROOT / "config.yaml")
    problem = training_data_pin_error(data_only)
    assert re.match(r"missing required key 'training.evaluator.revision'.*NanoBEIR-en", problem), problem
    with pytest.raises(ConfigError, match=r"'training.evaluator.revision': 'v1' does not match"):
        validate_config(compose_config([], {"training": {"evaluator": {"revision": "v1"}}}, ROOT / "config.yaml"))
    # The documented opt-out is accepted; the smoke data needs no revision.
    validate_config(compose_config([], {"data": {"hf_revision": "unpinned"}}, ROOT / "config.yaml"))
    assert "hf_revision" not in load_config(ROOT / "config" / "smoke.yaml")["data"]


def test_overlays_merge_onto_the_base_and_complete_configs_replace_it(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("training: {backend: modal}\nrerank: {backend: modal}\nmodal: {secret: null}\n")
    config = compose_config([overlay], PINNED, ROOT / "config.yaml")
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    evaluator = {**base["training"]["evaluator"], "revision": "0" * 40}
    assert config["training"] == {**base["training"], "backend": "modal", "evaluator": evaluator}  # key by key
    assert config["rerank"] == {**base["rerank"], "backend": "modal"}
    assert config["modal"]["secret"] is None and config["modal"]["train"] == base["modal"]["train"]
    assert config["models"] == base["models"] and config["data"]["hf_revision"] == "0" * 40
    # A complete config (with a study section) replaces config.yaml; later overlays still apply.
    smoke_modal = compose_config([ROOT / "config" / "smoke.yaml", overlay], None, ROOT / "config.yaml")
    assert smoke_modal["testsets"].keys() == smoke()["testsets"].keys()
    assert smoke_modal["training"]["backend"] == "modal" and smoke_modal["training"]["batch_size"] == 16
    # Nested --config values come as strings from Snakemake; numbers and booleans get their types back.
    typed = compose_config([ROOT / "config" / "smoke.yaml"],
                           {"rerank": {"batch_size": "128", "sort_by_length": "false", "mode": "naive"}},
                           ROOT / "config.yaml")
    assert typed["rerank"] == {**smoke()["rerank"], "batch_size": 128, "sort_by_length": False, "mode": "naive"}
    validate_config(typed)
