"""What the original study's own documents say about its runs, and what its evaluation files
imply about their batch size (paper.results: reported).

`data/original-study/facts.yaml` (paper.original_study) records facts that the researcher's
paper, thesis and training script state, each with the file, line and a short string of that
line, at the commit the evaluation files come from. `check_sources` compares them with a
copy of the repository; `macros` turns them into the LaTeX macros of the provenance table.

`effective_batches` reads the steps per epoch that the files' checkpoint names give and
finds, per model, the number of devices whose combined batch explains them: with
`train_pairs` pairs and a batch of b pairs an epoch has ceil(train_pairs / b) optimizer
steps. The sentence that states the result shows that arithmetic and calls it an inference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from .paper import format_number, latex_escape, macro_name

# The devices tried when explaining a step count: a node of up to 16 GPUs.
MAX_DEVICES = 16


# --------------------------------------------------------------------------- the facts file


def load_facts(path: str | Path) -> dict:
    """The facts file, checked for the fields every fact needs."""
    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("repository", "commit", "documents", "facts"):
        if key not in data:
            raise ValueError(f"{path}: no '{key}'")
    for name, fact in data["facts"].items():
        if "value" not in fact or not fact.get("sources"):
            raise ValueError(f"{path}: fact '{name}' needs a value and at least one source")
        for source in fact["sources"]:
            if source.get("doc") not in data["documents"]:
                raise ValueError(f"{path}: fact '{name}' names an unknown document "
                                 f"{source.get('doc')!r}")
            if not isinstance(source.get("line"), int) or not source.get("match"):
                raise ValueError(f"{path}: fact '{name}' needs a line number and a match string")
    return data


def check_sources(facts: Mapping, read: Callable[[str], str]) -> list[str]:
    """Every source whose line does not contain its match string; `read(path)` returns a
    document's text at the facts' commit. An empty list: every fact is where it says."""
    problems = []
    for name, fact in facts["facts"].items():
        for source in fact["sources"]:
            path = facts["documents"][source["doc"]]["path"]
            lines = read(path).splitlines()
            line = lines[source["line"] - 1] if 0 < source["line"] <= len(lines) else ""
            if source["match"] not in line:
                problems.append(f"{name}: {path}:{source['line']} does not contain "
                                f"{source['match']!r}")
    return problems


def _value(facts: Mapping, name: str):
    return facts["facts"][name]["value"]


def macros(facts: Mapping, config: Mapping) -> dict[str, str]:
    """Macros for the provenance table: the documents' values, formatted like the paper's."""
    models = config["models"]
    lengths = _value(facts, "max_length_thesis")
    out = {
        "OrigCommit": latex_escape(facts["commit"][:8]),
        "OrigRepository": latex_escape(facts["repository"]),
        "OrigGpu": latex_escape(_value(facts, "gpu")),
        "OrigLrMinilmGte": format_number(_value(facts, "lr_minilm_gte"), style="sci"),
        "OrigLrModernbertLion": format_number(_value(facts, "lr_modernbert_lion"), style="sci"),
        "OrigLrModernbertAdamw": format_number(_value(facts, "lr_modernbert_adamw"), style="sci"),
        "OrigLrModernbertSame": format_number(_value(facts, "lr_modernbert_same"), style="sci"),
        "OrigBatchPaper": format_number(_value(facts, "batch_paper"), style="int"),
        "OrigBatchThesis": format_number(_value(facts, "batch_thesis"), style="int"),
        "OrigWarmupRatio": format_number(_value(facts, "warmup_ratio_paper"), style="auto"),
        "OrigWarmupSteps": format_number(_value(facts, "warmup_steps_thesis"), style="int"),
        "OrigGradClip": format_number(_value(facts, "grad_clip_thesis"), style="auto"),
        "OrigHeldout": format_number(_value(facts, "heldout"), style="int"),
        "OrigPairs": format_number(_value(facts, "pairs"), style="int"),
        "OrigMaxLengths": ", ".join(
            f"{format_number(lengths[key], style='int')} ({latex_escape(models[key]['name'])})"
            for key in models if key in lengths),
    }
    return out


# --------------------------------------------------------------------------- the batch size


def effective_batch(steps: int, train_pairs: int, per_device: int) -> dict:
    """The device count n (1..MAX_DEVICES) whose batch n * per_device best explains `steps`
    optimizer steps per epoch over `train_pairs` pairs.

    Returns {"devices", "batch", "quotient" (train_pairs / batch), "ceiling" (its ceiling, the
    steps an epoch takes when the last batch is kept), "exact" (ceiling == steps)}. The best
    n is the one whose ceiling is nearest to `steps`, then whose quotient is.
    """
    if steps <= 0 or train_pairs <= 0 or per_device <= 0:
        raise ValueError("effective_batch: steps, pairs and batch must be positive")

    def fit(n: int) -> tuple[float, float]:
        quotient = train_pairs / (n * per_device)
        return abs(math.ceil(quotient) - steps), abs(quotient - steps)

    devices = min(range(1, MAX_DEVICES + 1), key=fit)
    batch = devices * per_device
    quotient = train_pairs / batch
    return {"devices": devices, "batch": batch, "quotient": quotient,
            "ceiling": math.ceil(quotient), "exact": math.ceil(quotient) == steps}


def effective_batches(steps: Mapping[str, int], train_pairs: int, per_device: int) -> dict[str, dict]:
    """`effective_batch` for each model's steps per epoch (models without a count are left out)."""
    return {model: effective_batch(count, train_pairs, per_device) | {"steps": count}
            for model, count in steps.items() if count is not None}


def _grouped(value: float, digits: int = 1) -> str:
    """A fraction with grouped thousands, as format_number groups integers: 10{,}364.6."""
    whole, fraction = f"{value:.{digits}f}".split(".")
    return f"{format_number(int(whole), style='int')}.{fraction}"


def batch_macros(batches: Mapping[str, dict], train_pairs: int, per_device: int,
                 names: Mapping[str, str]) -> dict[str, str]:
    """Per model: the inferred devices and batch; and the sentence with the arithmetic."""
    out = {"TrainPairsInferred": format_number(train_pairs, style="int"),
           "PerDeviceBatch": format_number(per_device, style="int")}
    pairs = format_number(train_pairs, style="int")
    parts = []
    for model, fit in batches.items():
        out[macro_name("Devices", model)] = format_number(fit["devices"], style="int")
        out[macro_name("Batch", "inferred", model)] = format_number(fit["batch"], style="int")
        batch = format_number(fit["batch"], style="int")
        devices = format_number(fit["devices"], style="int")
        if fit["exact"]:
            part = (f"$\\lceil {pairs}/{batch} \\rceil = "
                    f"{format_number(fit['ceiling'], style='int')}$ for {latex_escape(names[model])} "
                    f"({devices} GPUs)")
        else:
            gap = fit["ceiling"] - fit["steps"]
            part = (f"${pairs}/{batch} = {_grouped(fit['quotient'])}$ for "
                    f"{latex_escape(names[model])} ({devices} GPUs), whose ceiling, "
                    f"{format_number(fit['ceiling'], style='int')}, is "
                    f"{format_number(abs(gap), style='word')} {'more' if gap > 0 else 'less'} "
                    f"than the files' count")
        parts.append(part)
    if parts:
        out["BatchInferenceSentence"] = (
            f"These counts fit a batch of {format_number(per_device, style='int')} pairs per "
            f"GPU on several GPUs, if {pairs} pairs were trained: "
            f"{', '.join(parts[:-1])}{', and ' if len(parts) > 1 else ''}{parts[-1]}. This is "
            f"an inference from the counts alone: no source gives the number of GPUs.")
        out["BatchInferenceShort"] = ", ".join(
            f"{format_number(f['batch'], style='int')}" for f in batches.values())
    return out
