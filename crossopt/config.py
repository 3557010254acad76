"""Configuration: schema validation with key-naming errors, defaults, and derived settings.

The workflow calls `validate_config` once at start-up; rules and tests use the
small accessors below so that names, paths and per-run settings are derived in
one place and never retyped.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "config" / "schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key."""


def _with_defaults(validator_class):
    """A validator class that fills in `default` values of absent properties.

    jsonschema validates only; filling defaults while validating is its documented
    extension pattern. Defaults are filled before validation of the object's
    properties, so nested defaults (e.g. inside a default object) are filled too.
    snakemake.utils.validate(set_default=True) does the same, but puts the schema's own
    default objects into the config (one list shared by every test set) and stops at
    the first error; here each default is a copy and every problem is reported.
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(part) for part in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


# How to fill in a required key that a config cannot guess (appended to the error).
REQUIRED_HINTS = {
    "data.hf_revision": (
        ": pin the training data to a commit, e.g. in config.yaml or with "
        "--config data='{hf_revision: <sha>}', where <sha> is printed by "
        "python -c \"from huggingface_hub import HfApi; "
        "print(HfApi().dataset_info('sentence-transformers/msmarco').sha)\" "
        "(or write hf_revision: unpinned to use the dataset's current main branch, not repeatable)"
    ),
    "training.evaluator.revision": (
        ": pin the NanoBEIR evaluation data to a commit, e.g. with "
        "--config training='{evaluator: {revision: <sha>}}', where <sha> is printed by "
        "python -c \"from huggingface_hub import HfApi; "
        "print(HfApi().dataset_info('sentence-transformers/NanoBEIR-en').sha)\" "
        "(or revision: unpinned for its current main branch, not repeatable)"
    ),
}


def training_data_pin_error(config: dict) -> str | None:
    """Why the hub data a training reads (its pairs, its NanoBEIR evaluator) cannot be read
    repeatably (no pinned commit), or None.

    Checked while Snakemake plans a run whose jobs need the training pairs (rules/common.smk),
    so such a run stops before any job starts; runs that need no training data are unaffected.
    """
    for key, value in training_data_pins(config):
        if not value:
            return f"missing required key '{key}'" + REQUIRED_HINTS[key]
    return None


def training_data_pins(config: dict) -> list[tuple[str, str | None]]:
    """(key, value) of each hub-data pin a training of this config needs: the training pairs'
    commit (hub data) and the NanoBEIR evaluator's (type nanobeir)."""
    pins = []
    if config["data"]["source"] == "hf":
        pins.append(("data.hf_revision", config["data"].get("hf_revision")))
    evaluator = config["training"].get("evaluator") or {}
    if evaluator.get("type") == "nanobeir":
        pins.append(("training.evaluator.revision", evaluator.get("revision")))
    return pins


def _describe(error: jsonschema.ValidationError) -> str:
    """One line that names the key and says what is wrong with it."""
    where = _key_path(error)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - allowed)
        hint = f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
        return f"unknown key {', '.join(repr(k) for k in unknown)} in '{where}'{hint}"
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        key = f"{where}.{missing}" if where != "<top level>" else missing
        return f"missing required key '{key}'" + REQUIRED_HINTS.get(key, "")
    if error.validator == "propertyNames":
        return f"invalid key {error.instance!r} in '{where}': {error.message}"
    if error.validator == "type":
        return f"'{where}': {error.message}" + _type_hint(error.instance, error.validator_value)
    return f"'{where}': {error.message}"


def _type_hint(value, expected) -> str:
    """What to write instead, for the two type errors YAML's own rules cause."""
    expected = expected if isinstance(expected, list) else [expected]
    if isinstance(value, float) and "integer" in expected and value.is_integer():
        return f" (write {int(value)}, without the decimal point)"
    if isinstance(value, str) and "number" in expected:
        try:
            number = float(value)
        except ValueError:
            return ""
        mantissa, _, exponent = value.lower().partition("e")
        if exponent and "." not in mantissa:
            return (f" (YAML 1.1 reads {value} as text because its mantissa has no decimal point: "
                    f"write {mantissa}.0e{exponent})")
        return f" (write it without quotes: {number!r})"
    return ""


def load_schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key repeated in one mapping is an error (PyYAML
    keeps the last one silently: a second `training:` block would replace the first)."""


def _strict_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)  # `<<` merge keys first, as SafeLoader does
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise ConfigError(f"{key_node.start_mark.name}, line {line}: key {key!r} appears a second time in one "
                              f"mapping (first on line {seen[key]}); YAML would keep only the last one")
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


def read_config_file(path: str | Path) -> dict:
    """One config file (complete or overlay) as a mapping; every problem names the file and,
    where YAML gives one, the line: a repeated key, a syntax error (tabs for indentation
    included), a top level that is not a mapping."""
    try:
        with open(path, encoding="utf-8") as handle:
            layer = yaml.load(handle, Loader=_StrictLoader)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config file ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not valid UTF-8 (byte {error.object[error.start]:#04x} at offset "
                          f"{error.start}); save the file as UTF-8") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        tabs = " (YAML does not allow tabs for indentation: indent with spaces)" if _line_has_tab(path, mark) else ""
        raise ConfigError(f"{path}{where}: not valid YAML: {error.problem or error.context}{tabs}") from None
    if layer is None:
        return {}
    if not isinstance(layer, dict):
        raise ConfigError(f"{path}: the top level of a config must be a mapping (key: value lines), "
                          f"not a {type(layer).__name__}")
    return layer


def _line_has_tab(path, mark) -> bool:
    """Whether the line YAML stopped at, or the one before it, is indented with a tab."""
    if mark is None:
        return False
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return any(0 <= i < len(lines) and lines[i][:1] == "\t" for i in (mark.line, mark.line - 1))


def validate_config(config: dict) -> dict:
    """Validate `config` in place (filling defaults) and check cross-references.

    Raises ConfigError listing every problem, each naming its key.
    """
    schema = load_schema()
    base = jsonschema.validators.validator_for(schema)
    # JSON Schema counts 3.0 as an integer; a config means 3 (epochs, seeds, batch size, steps).
    strict = base.TYPE_CHECKER.redefine(
        "integer", lambda checker, value: isinstance(value, int) and not isinstance(value, bool))
    validator_class = _with_defaults(jsonschema.validators.extend(base, type_checker=strict))
    validator = validator_class(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    # JSON Schema's bounds let NaN through (every comparison with it is false).
    problems = _non_finite_numbers(config) + [_describe(error) for error in _leaf_errors(errors)]
    if not problems:
        problems = _cross_reference_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return config


def _non_finite_numbers(value, where: str = "") -> list[str]:
    """One problem per NaN or infinity anywhere in the config, naming its key."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"'{where or '<top level>'}': {value} is not a finite number"]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    return [problem for key, item in items for problem in _non_finite_numbers(item, f"{where}.{key}" if where else str(key))]


# Metrics of sentence-transformers' cross-encoder evaluators (at_k = 10), as the
# trainer logs them: eval_<evaluator name>_<metric>; NanoBEIR also logs BM25's own.
_EVALUATOR_METRICS = ("map", "mrr@10", "ndcg@10")


def evaluator_metric_names(evaluator: dict) -> list[str]:
    """The metric names the configured per-epoch evaluator gives the trainer (aggregates only)."""
    if evaluator["type"] == "heldout":
        names = [f"eval_heldout_{m}" for m in _EVALUATOR_METRICS]
    else:
        names = [f"eval_NanoBEIR_R100_mean_{prefix}{m}" for prefix in ("", "base_") for m in _EVALUATOR_METRICS]
    return ["eval_loss", *names]


def _metric_problem(config: dict) -> list[str]:
    metric = config["training"].get("metric_for_best_model")
    if metric is None:
        return []
    evaluator = config["training"]["evaluator"]
    names = evaluator_metric_names(evaluator)
    # The trainer prefixes "eval_" itself when it is missing.
    full = metric if metric.startswith("eval_") else f"eval_{metric}"
    if full in names:
        return []
    if evaluator["type"] == "nanobeir" and full.startswith("eval_Nano") and "_R100_" in full:
        # one dataset's metric, e.g. eval_NanoMSMARCO_R100_ndcg@10 (dataset names come from sentence-transformers)
        if full.split("_R100_", 1)[1].removeprefix("base_") in _EVALUATOR_METRICS:
            return []
    return [f"'training.metric_for_best_model': {metric!r} is not a metric of the {evaluator['type']} evaluator "
            f"(it logs: {', '.join(names)})"]


def _leaf_errors(errors) -> Iterator[jsonschema.ValidationError]:
    """Report the specific failures inside if/then and allOf, not their wrappers."""
    for error in errors:
        if error.context:
            yield from _leaf_errors(error.context)
        else:
            yield error


def _cross_reference_problems(config: dict) -> list[str]:
    problems = []
    for model, per_optim in config.get("overrides", {}).items():
        if model not in config["models"]:
            problems.append(f"'overrides.{model}': no such model (models: {', '.join(config['models'])})")
            continue
        for optim in per_optim:
            if optim not in config["optimizers"]:
                problems.append(
                    f"'overrides.{model}.{optim}': no such optimizer (optimizers: {', '.join(config['optimizers'])})"
                )
    for column, spec in config["table"]["columns"].items():
        if spec["testset"] not in config["testsets"]:
            problems.append(f"'table.columns.{column}.testset': no such test set {spec['testset']!r}")
        elif not config["testsets"][spec["testset"]]["enabled"]:
            problems.append(f"'table.columns.{column}.testset': test set {spec['testset']!r} is disabled")
    baseline = config.get("statistics", {}).get("baseline_optimizer")
    if baseline is not None and baseline not in config["optimizers"]:
        problems.append(f"'statistics.baseline_optimizer': no such optimizer {baseline!r}")
    figure_model = config.get("paper", {}).get("figure_model")
    if figure_model is not None and figure_model not in config["models"]:
        problems.append(f"'paper.figure_model': no such model {figure_model!r} (models: {', '.join(config['models'])})")
    problems += _metric_problem(config)
    for key, spec in config["testsets"].items():
        depth = (spec.get("retrieval") or {}).get("depth")
        deeper = [k for k in spec.get("recall_depths") or [] if depth is not None and k > depth]
        if deeper:
            problems.append(f"'testsets.{key}.recall_depths': {deeper} exceed the retrieval depth {depth}: "
                            f"R@{deeper[0]} of a run cut at {depth} would be R@{depth} under another name; "
                            f"set recall_depths (default [100, 1000]) to depths up to {depth}")
    for key, model in config["models"].items():
        if model.get("trust_remote_code") and model["source"] == "hub" and not model.get("revision"):
            problems.append(f"'models.{key}.revision': trust_remote_code needs a pinned revision")
        if model.get("trust_remote_code") and model["source"] == "hub" and not model.get("code_revision"):
            problems.append(f"'models.{key}.code_revision': trust_remote_code needs the code repository's commit")
        if model.get("trust_remote_code") and model.get("local_code"):
            problems.append(f"'models.{key}': local_code and trust_remote_code exclude each other")
    problems += _beir_source_problems(config)
    return problems


# ---------------------------------------------------------------------------
# Where a BEIR folder comes from: a local path, or BEIR's zip downloaded into results/

BEIR_DOWNLOAD_ROOT = "results/downloads/beir"


def beir_archive_root(url: str) -> str:
    """The folder a BEIR zip holds its files in, named as the archive (`.../scifact.zip` -> `scifact`)."""
    from pathlib import PurePosixPath
    from urllib.parse import urlparse

    name = PurePosixPath(urlparse(url).path).name
    if not name.endswith(".zip") or name == ".zip":
        raise ValueError(f"{url}: not the URL of a .zip archive (BEIR ships each dataset as <name>.zip)")
    return name[: -len(".zip")]


def beir_download_folder(download: dict) -> str:
    """Where the rule download_beir puts a `download` block's files."""
    return f"{BEIR_DOWNLOAD_ROOT}/{beir_archive_root(download['url'])}"


def beir_testset_folder(config: dict, key: str) -> str:
    """The BEIR folder of test set `key` (source beir): its `path` when given, else its download's folder."""
    spec = config["testsets"][key]
    return spec["path"] if spec.get("path") else beir_download_folder(spec["download"])


def beir_data_folder(config: dict) -> str:
    """The BEIR folder the training pairs come from (data.source beir): `data.path`, or the
    folder of `data.index_testset` (same corpus: its index gives the hard negatives)."""
    data = config["data"]
    return data["path"] if data.get("path") else beir_testset_folder(config, data["index_testset"])


def beir_downloads(config: dict) -> dict[str, dict]:
    """{dataset name: download block} of every beir test set that is downloaded (has no path)."""
    found = {}
    for spec in config["testsets"].values():
        if spec["source"] == "beir" and not spec.get("path") and spec.get("download"):
            found[beir_archive_root(spec["download"]["url"])] = spec["download"]
    return found


def _beir_source_problems(config: dict) -> list[str]:
    """A beir test set without path or download; two downloads of one name that differ; a
    downloaded folder that would lack a file the study reads (only pinned files are extracted)."""
    problems, seen = [], {}
    needs: dict[str, list[tuple[str, str]]] = {}  # test set -> [(file, config key that needs it)]
    for key, spec in config["testsets"].items():
        if spec["source"] != "beir":
            continue
        if not spec.get("path") and not spec.get("download"):
            problems.append(f"'testsets.{key}': give 'path' (a local BEIR folder) or 'download' "
                            "(BEIR's zip with the sha256 of its files; README, \"The SciFact replication\")")
            continue
        if spec.get("path"):
            continue
        download, name = spec["download"], beir_archive_root(spec["download"]["url"])
        if name in seen and config["testsets"][seen[name]]["download"] != download:
            problems.append(f"'testsets.{key}.download': downloads into {BEIR_DOWNLOAD_ROOT}/{name} as "
                            f"'testsets.{seen[name]}.download' does, with other settings; make them equal")
        seen.setdefault(name, key)
        needs.setdefault(key, []).extend(
            [("corpus.jsonl", f"testsets.{key}"), ("queries.jsonl", f"testsets.{key}"),
             (f"qrels/{spec['split']}.tsv", f"testsets.{key}.split")])
    data = config["data"]
    if data["source"] == "beir" and not data.get("path"):
        index = data.get("index_testset")
        if index in needs:
            needs[index].append((f"qrels/{data['split']}.tsv", "data.split"))
    for key, files in needs.items():
        pinned = config["testsets"][key]["download"]["sha256"]
        for name, needed_by in dict.fromkeys(files):
            if name not in pinned:
                problems.append(f"'testsets.{key}.download.sha256': no sha256 for {name}, which '{needed_by}' "
                                "reads; only pinned files are extracted")
    return problems


# ---------------------------------------------------------------------------
# Composing the run's config from a base and overlays


# The sections that make a config file complete (it describes a whole study: what is trained
# and how). A file with only some of them, e.g. `study: {seeds: [12, 13]}`, is an overlay.
COMPLETE_SECTIONS = ("study", "models")


def is_complete_config(layer: dict) -> bool:
    """A config file that describes a whole study (a `study` and a `models` section), not an overlay."""
    return isinstance(layer, dict) and all(section in layer for section in COMPLETE_SECTIONS)


def merge_overlay(base: dict, overlay: dict) -> dict:
    """`overlay` merged into `base` in place: mappings key by key, anything else replaced."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_overlay(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")


def _typed_scalars(value: Any) -> Any:
    """Nested `--config` values arrive as strings (Snakemake parses them with YAML's BaseLoader);
    numbers, booleans and null are turned back into their types, other strings are kept."""
    if isinstance(value, dict):
        return {k: _typed_scalars(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed_scalars(v) for v in value]
    if isinstance(value, str) and not COMMIT_HASH.match(value):  # a hash of digits stays a string
        parsed = yaml.safe_load(value) if value.strip() else value
        if parsed is None or isinstance(parsed, (bool, int, float)):
            return parsed
    return value


def compose_config(configfiles: list[str | Path], command_line: dict | None, default: str | Path) -> dict:
    """The run's config from `--configfile` files and `--config` values, in order.

    A complete config (one with a `study` section: config.yaml, config/smoke.yaml)
    starts the config afresh; any other file (config/modal.yaml) and the
    `--config` values are overlays, merged key by key onto what comes before. When
    the first file is an overlay, or none is given, `default` (config.yaml) is the base.
    """
    layers = [read_config_file(path) for path in configfiles]
    if not layers or not is_complete_config(layers[0]):
        layers.insert(0, read_config_file(default))
    config: dict = {}
    for layer in layers:
        if is_complete_config(layer):
            config = copy.deepcopy(layer)
        else:
            merge_overlay(config, layer)
    return merge_overlay(config, _typed_scalars(dict(command_line or {})))


def load_config(path: str | Path) -> dict:
    """Read and validate a YAML config file (for tests and command-line tools)."""
    return validate_config(read_config_file(path))


def is_index_path(index: str) -> bool:
    """Whether a `retrieval.index` value names a Lucene index folder rather than a prebuilt index.

    Pyserini's prebuilt names never contain a slash; a folder is written with one
    (`indexes/msmarco-v1-passage`, `./msmarco`, `/data/msmarco`).
    """
    return "/" in index or index.startswith(".")


def is_lucene_index(path: str | Path) -> bool:
    """Whether `path` is a folder holding a Lucene index (a segments_* file)."""
    return Path(path).is_dir() and any(Path(path).glob("segments_*"))


def local_path_problems(config: dict, base: str | Path = ".") -> list[str]:
    """Local files the enabled test sets need that do not exist, one problem per path.

    Relative paths are taken from `base`, the folder snakemake runs in. A BEIR
    test set needs corpus.jsonl, queries.jsonl and the qrels of its split.
    """
    base = Path(base)
    problems = []
    for key in enabled_testsets(config):
        spec = config["testsets"][key]
        if spec["source"] == "beir" and spec.get("path"):
            folder = base / spec["path"]
            if not folder.is_dir():
                problems.append(f"'testsets.{key}.path': folder {folder} does not exist")
                continue
            for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{spec['split']}.tsv"):
                if not (folder / name).is_file():
                    hint = ""
                    if name.startswith("qrels/"):
                        splits = sorted(q.stem for q in (folder / "qrels").glob("*.tsv"))
                        hint = f" (splits there: {', '.join(splits) or 'none'}; set 'testsets.{key}.split')"
                    problems.append(f"'testsets.{key}': {folder / name} does not exist{hint}")
        index = (spec.get("retrieval") or {}).get("index", "local")
        if is_index_path(index):
            folder = base / index
            if not is_lucene_index(folder):
                problems.append(f"'testsets.{key}.retrieval.index': {folder} is not a Lucene index folder "
                                "(no segments_* file; README, \"The BM25 index\", says how to get one)")
        if spec.get("topics_file") and not (base / spec["topics_file"]).is_file():
            problems.append(f"'testsets.{key}.topics_file': {base / spec['topics_file']} does not exist")
    return problems


# ---------------------------------------------------------------------------
# Derived settings


def enabled_testsets(config: dict) -> list[str]:
    return [key for key, spec in config["testsets"].items() if spec["enabled"]]


def epochs(config: dict) -> list[int]:
    return list(range(1, config["study"]["epochs"] + 1))


def run_settings(config: dict, model: str, optim: str) -> dict:
    """Everything that differs between training runs, with overrides applied.

    One dict per (model, optimizer) is the single source the training entry point
    reads, so a per-pair override can never be half applied.
    """
    if model not in config["models"]:
        raise ConfigError(f"unknown model key {model!r} (models: {', '.join(config['models'])})")
    if optim not in config["optimizers"]:
        raise ConfigError(f"unknown optimizer key {optim!r} (optimizers: {', '.join(config['optimizers'])})")
    model_spec = config["models"][model]
    optim_spec = config["optimizers"][optim]
    override = config["overrides"].get(model, {}).get(optim, {})
    head_lr = override.get("head_learning_rate", model_spec.get("head_learning_rate"))
    return {
        "model": model,
        "optim": optim,
        "optimizer_type": optim_spec["type"],
        "learning_rate": float(override.get("learning_rate", model_spec["learning_rate"])),
        "scheduler": override.get("scheduler", model_spec["scheduler"]),
        "weight_decay": float(override.get("weight_decay", optim_spec["weight_decay"])),
        "betas": [float(b) for b in optim_spec["betas"]],
        "eps": float(optim_spec["eps"]),
        "lion_implementation": optim_spec["implementation"],
        "max_length": int(model_spec["max_length"]),
        "trust_remote_code": bool(model_spec["trust_remote_code"]),
        # Where the architecture's code comes from (crossopt.model_code); only present when set,
        # so runs of models transformers ships keep their fingerprints.
        **{key: model_spec[key] for key in ("local_code", "code_revision") if model_spec.get(key)},
        "epochs": int(config["study"]["epochs"]),
        **{key: config["training"][key] for key in (
            "batch_size", "warmup_ratio", "bf16", "use_cpu", "logging_steps",
            "dataloader_num_workers", "decay_bias_and_norm", "evaluator",
        )},
        "metric_for_best_model": config["training"].get("metric_for_best_model"),
        # The fresh scoring head's own peak rate; only present when set, so other runs keep their fingerprints.
        **({"head_learning_rate": float(head_lr)} if head_lr is not None else {}),
        # Batches per optimizer step; only present above 1, for the same reason.
        **({"gradient_accumulation_steps": int(model_spec["gradient_accumulation_steps"])}
           if int(model_spec.get("gradient_accumulation_steps", 1)) > 1 else {}),
    }
