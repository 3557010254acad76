"""Configuration: schema validation with key-naming errors, defaults, and derived settings.

The workflow calls `validate_config` once at start-up; rules and tests use the
small accessors below so that names, paths and per-run settings are derived in
one place and never retyped.
"""

from __future__ import annotations

import copy
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
        return f"missing required key '{where}.{missing}'" if where != "<top level>" else f"missing required key '{missing}'"
    if error.validator == "propertyNames":
        return f"invalid key {error.instance!r} in '{where}': {error.message}"
    return f"'{where}': {error.message}"


def load_schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def validate_config(config: dict) -> dict:
    """Validate `config` in place (filling defaults) and check cross-references.

    Raises ConfigError listing every problem, each naming its key.
    """
    schema = load_schema()
    validator_class = _with_defaults(jsonschema.validators.validator_for(schema))
    validator = validator_class(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(error) for error in _leaf_errors(errors)]
    if not problems:
        problems = _cross_reference_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return config


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
    for key, model in config["models"].items():
        if model.get("trust_remote_code") and model["source"] == "hub" and not model.get("revision"):
            problems.append(f"'models.{key}.revision': trust_remote_code needs a pinned revision")
    return problems


def load_config(path: str | Path) -> dict:
    """Read and validate a YAML config file (for tests and command-line tools)."""
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: the top level of a config must be a mapping")
    return validate_config(config)


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
    override = config.get("overrides", {}).get(model, {}).get(optim, {})
    default_betas = [0.9, 0.99] if optim_spec["type"] == "lion" else [0.9, 0.999]
    head_lr = override.get("head_learning_rate", model_spec.get("head_learning_rate"))
    return {
        "model": model,
        "optim": optim,
        "optimizer_type": optim_spec["type"],
        "learning_rate": float(override.get("learning_rate", model_spec["learning_rate"])),
        "scheduler": override.get("scheduler", model_spec["scheduler"]),
        "weight_decay": float(override.get("weight_decay", optim_spec["weight_decay"])),
        "betas": [float(b) for b in optim_spec.get("betas", default_betas)],
        "eps": float(optim_spec["eps"]),
        "lion_implementation": optim_spec.get("implementation", "reference"),
        "max_length": int(model_spec["max_length"]),
        "trust_remote_code": bool(model_spec.get("trust_remote_code", False)),
        "epochs": int(config["study"]["epochs"]),
        **{key: config["training"][key] for key in (
            "batch_size", "warmup_ratio", "bf16", "use_cpu", "logging_steps",
            "dataloader_num_workers", "decay_bias_and_norm", "evaluator",
        )},
        "metric_for_best_model": config["training"].get("metric_for_best_model"),
        # The fresh scoring head's own peak rate; only present when set, so other runs keep their fingerprints.
        **({"head_learning_rate": float(head_lr)} if head_lr is not None else {}),
    }
