"""The paper's account of where reported results come from (paper.results: reported).

Written from the researcher's imported evaluation files (crossopt.researcher_eval) and
the reconciliation of the brief's table with them: the macros and sentences of the
setup's "source of the results" paragraph and of the limitations, the reconciliation
table and the table of further trec_eval measures (appendix). Every number goes through
crossopt.paper.format_number. The brief's values appear only in the reconciliation
table; sentences elsewhere name cells and the size of differences, never a brief value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from . import original_study, paper
from .paper import MEASURE_LABELS, format_number, latex_escape
from .researcher_eval import AGREES, TRUNCATED, ReconciledCell

# Further trec_eval fields for the appendix table: label -> field.
EXTRA_MEASURES = {"nDCG@5": "ndcg_cut_5", "nDCG@100": "ndcg_cut_100", "RR": "recip_rank",
                  "bpref": "bpref", "R@100": "recall_100"}
LARGEST_LISTED = 4


def _names(config: Mapping) -> tuple[dict[str, str], dict[str, str]]:
    return ({k: s["name"] for k, s in config["models"].items()},
            {k: s["name"] for k, s in config["optimizers"].items()})


def load_imported(eval_path, config: Mapping) -> dict[tuple[str, str, int], dict]:
    """(model key, optimizer key, epoch) -> the imported TREC DL report (trec_eval block)."""
    testset = config["table"]["columns"][paper.PRIMARY_MEASURE]["testset"]
    seed = config["study"]["seeds"][0]
    out = {}
    for model in config["models"]:
        for optim in config["optimizers"]:
            for epoch in range(1, config["study"]["epochs"] + 1):
                out[(model, optim, epoch)] = read_imported(eval_path(model, optim, seed, epoch, testset))
    return out


def read_imported(path) -> dict:
    with open(path, encoding="utf-8") as handle:
        report = json.load(handle)
    if "trec_eval" not in report:
        raise ValueError(f"{path}: not an imported evaluation of the researcher's files "
                         f"(no trec_eval block)")
    return report


# --------------------------------------------------------------------------- facts


def pool_facts(imported: Mapping[tuple, dict]) -> dict[str, tuple[float, float]]:
    """(min, max) over the files of the fields that describe the BM25 candidate pool."""
    out = {}
    for field in ("num_q", "num_rel", "num_rel_ret", "num_ret", "recall_1000"):
        values = [r["trec_eval"][field] for r in imported.values()]
        out[field] = (min(values), max(values))
    return out


def steps_per_epoch(imported: Mapping[tuple, dict], config: Mapping) -> dict[str, dict]:
    """Per model key: the checkpoint step counts found in the runids and what they imply.

    Returns {model: {"per_epoch": steps of epoch 1 or None, "consistent": bool,
    "named": [optimizer keys with numeric runids], "final": [optimizer keys whose runids
    are all non-numeric, e.g. 'final']}}.
    """
    out = {}
    epochs = config["study"]["epochs"]
    for model in config["models"]:
        named, final, per_epoch, consistent = [], [], set(), True
        for optim in config["optimizers"]:
            steps = [imported[(model, optim, e)]["checkpoint_steps"] for e in range(1, epochs + 1)]
            if all(s is None for s in steps):
                final.append(optim)
                continue
            named.append(optim)
            if any(s is None for s in steps) or any(s != steps[0] * e
                                                    for e, s in enumerate(steps, start=1)):
                consistent = False
            per_epoch.add(steps[0])
        out[model] = {"per_epoch": per_epoch.pop() if len(per_epoch) == 1 else None,
                      "consistent": consistent and len(per_epoch) <= 1,
                      "named": named, "final": final}
    return out


def _range(values: tuple[float, float], **kwargs) -> str:
    low, high = values
    if low == high:
        return format_number(low, **kwargs)
    return f"{format_number(low, **kwargs)}--{format_number(high, **kwargs)}"


def _system(model: str, optimizer: str, epoch: int) -> str:
    return (f"{latex_escape(model)} with {latex_escape(optimizer)} at epoch "
            f"{format_number(epoch, style='int')}")


def reconciliation_summary(cells: Sequence[ReconciledCell], config: Mapping) -> str:
    """Per model: which measures of the brief's table differ from the outputs."""
    ranking_name = config["testsets"][config["table"]["columns"][paper.PRIMARY_MEASURE]
                                      ["testset"]]["name"]
    mrr_key = config["table"]["columns"]["MRR@10"]["testset"]
    parts = []
    for model in paper.unique_in_order(c.model for c in cells):
        own = [c for c in cells if c.model == model]
        wrong = [c for c in own if c.status != AGREES]
        if not wrong:
            parts.append(f"for {latex_escape(model)} every cell agrees")
            continue
        ranking_wrong = [c for c in wrong if config["table"]["columns"][c.column]["testset"]
                         != mrr_key]
        truncated = [c for c in wrong if c.status == TRUNCATED]
        other_mrr = [c for c in wrong if c not in ranking_wrong and c.status != TRUNCATED]
        pieces = []
        if ranking_wrong:
            counts = []
            for column in paper.MEASURES:
                n = sum(c.column == column for c in ranking_wrong)
                total = sum(c.column == column for c in own)
                if n:
                    counts.append(f"{format_number(n, style='int')} of "
                                  f"{format_number(total, style='int')} "
                                  f"{MEASURE_LABELS[column]}")
            pieces.append(f"{format_number(len(ranking_wrong), style='int')} "
                          f"{latex_escape(ranking_name)} cells differ ({paper._join(counts)})")
        else:
            pieces.append(f"every {latex_escape(ranking_name)} cell agrees")
        if truncated:
            pieces.append(f"{format_number(len(truncated), style='word')} MRR@10 "
                          f"{'value is' if len(truncated) == 1 else 'values are'} truncated "
                          f"instead of rounded")
        if other_mrr:
            pieces.append(f"{format_number(len(other_mrr), style='word')} MRR@10 "
                          f"{'value differs' if len(other_mrr) == 1 else 'values differ'}")
        parts.append(f"for {latex_escape(model)}, " + " and ".join(pieces))
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def largest_differences(cells: Sequence[ReconciledCell], n: int = LARGEST_LISTED) -> str:
    """The largest differences by size, naming the cell but not the brief's value."""
    wrong = sorted((c for c in cells if c.status != AGREES),
                   key=lambda c: (-abs(c.difference), c.model, c.optimizer, c.epoch, c.column))
    if not wrong:
        return ""
    # Grouped by run, so that a run with several of the largest differences is named once.
    groups: dict[tuple[str, str], list[ReconciledCell]] = {}
    for c in wrong[:n]:
        groups.setdefault((c.model, c.optimizer), []).append(c)
    listed = []
    for (model, optimizer), group in groups.items():
        cells_text = paper._join([
            f"{MEASURE_LABELS[c.column]} at epoch {format_number(c.epoch, style='int')} "
            f"({format_number(abs(c.difference))}, the brief {'higher' if c.difference > 0 else 'lower'})"
            for c in group])
        listed.append(f"{latex_escape(model)} with {latex_escape(optimizer)}: {cells_text}")
    return (f"The largest differences are for {'; '.join(listed)}. The brief's values are "
            f"higher in {format_number(sum(c.difference > 0 for c in wrong), style='int')} "
            f"of the {format_number(len(wrong), style='int')} differing cells.")


def _sign(delta: float) -> int:
    return (delta > 0) - (delta < 0)


def conclusion_changes(brief_rows, output_rows, config: Mapping) -> str:
    """What the comparison of the optimizers says under the brief's table and under the
    outputs: sign flips of Lion minus AdamW, per-model counts of AdamW ahead, and the best
    value of each measure."""
    reference, candidate = paper.compared_optimizers(config["optimizers"])
    cand, ref = latex_escape(candidate), latex_escape(reference)
    brief = {(d.model, d.epoch, d.measure): d
             for d in paper.matched_differences(brief_rows, reference, candidate)}
    outputs = {(d.model, d.epoch, d.measure): d
               for d in paper.matched_differences(output_rows, reference, candidate)}
    if brief.keys() != outputs.keys():
        raise ValueError("the brief's table and the outputs do not hold the same comparisons")
    flips = [k for k in outputs if _sign(brief[k].delta) != _sign(outputs[k].delta)]
    n = format_number(len(outputs), style="int")
    text = []
    if flips:
        # Counts per model; the reconciliation appendix shows every cell behind them.
        per_model = [f"{format_number(sum(k[0] == model for k in flips), style='int')} for {latex_escape(model)}"
                     for model in paper.unique_in_order(k[0] for k in flips)]
        text.append(f"Between the brief's table and the outputs, the sign of {cand} minus "
                    f"{ref} changes in {format_number(len(flips), style='int')} of the {n} "
                    f"differences at the same epoch ({paper._join(per_model)}).")
    else:
        text.append(f"The sign of {cand} minus {ref} is the same in the brief's table and in "
                    f"the outputs for all {n} differences at the same epoch.")
    mrr_key = config["table"]["columns"]["MRR@10"]["testset"]
    ranking = [m for m in paper.MEASURES if config["table"]["columns"][m]["testset"] != mrr_key]
    ranking_name = latex_escape(config["testsets"][config["table"]["columns"]
                                                   [paper.PRIMARY_MEASURE]["testset"]]["name"])
    for model in paper.unique_in_order(k[0] for k in outputs):
        keys = [k for k in outputs if k[0] == model and k[2] in ranking]
        behind_o = sum(outputs[k].delta < 0 for k in keys)
        behind_b = sum(brief[k].delta < 0 for k in keys)
        if behind_o != behind_b:
            every = " (every one)" if behind_o == len(keys) else ""
            text.append(f"For {latex_escape(model)}, {ref} is ahead of {cand} in "
                        f"{format_number(behind_o, style='int')} of the "
                        f"{format_number(len(keys), style='int')} {ranking_name} comparisons "
                        f"in the outputs{every}, against {format_number(behind_b, style='int')} "
                        f"in the brief's table.")
    moved = []
    for measure in paper.MEASURES:
        best_b = {(r.model, r.optimizer, r.epoch) for r in paper.best_cells(
            paper.rerankers(brief_rows), measure)}
        best_o = [r for r in paper.best_cells(paper.rerankers(output_rows), measure)]
        if best_b != {(r.model, r.optimizer, r.epoch) for r in best_o}:
            moved.append(f"{MEASURE_LABELS[measure]} ({paper._join([_system(r.model, r.optimizer, r.epoch) for r in best_o])})")
    if moved:
        text.append(f"The best value in the outputs belongs to another run than in the brief's "
                    f"table for {paper._join(moved)}.")
    return " ".join(text)


def reported_macros(cells: Sequence[ReconciledCell], brief_rows, output_rows,
                    imported: Mapping[tuple, dict], config: Mapping) -> dict[str, str]:
    """Macros for the paper's account of the researcher's files."""
    models, _ = _names(config)
    pool = pool_facts(imported)
    fields = {len(r["trec_eval"]) for r in imported.values()}
    wrong = [c for c in cells if c.status != AGREES]
    macros = {
        "NumReportedFiles": format_number(len(imported), style="int"),
        "NumTrecEvalFields": _range((min(fields), max(fields)), style="int"),
        "NumCells": format_number(len(cells), style="int"),
        "NumCellsDiffer": format_number(len(wrong), style="int"),
        "NumCellsAgree": format_number(len(cells) - len(wrong), style="int"),
        "NumCellsTruncated": format_number(sum(c.status == TRUNCATED for c in cells),
                                           style="int"),
        "ReconciliationSummary": reconciliation_summary(cells, config),
        "LargestDifferences": largest_differences(cells),
        "ConclusionChanges": conclusion_changes(brief_rows, output_rows, config),
        "PoolQueries": _range(pool["num_q"], style="int"),
        "PoolRetrieved": _range(pool["num_ret"], style="int"),
        "PoolRelevant": _range(pool["num_rel"], style="int"),
        "PoolRelevantRetrieved": _range(pool["num_rel_ret"], style="int"),
        "PoolRecall": _range(pool["recall_1000"]),
        "PoolSame": "the same in every file" if all(lo == hi for lo, hi in pool.values())
                    else "nearly the same in every file",
        "StepsSentence": steps_sentence(imported, config),
        "ImpliedSteps": format_number(
            config["data"]["pairs"] // config["training"]["batch_size"], style="int"),
    }
    steps = steps_per_epoch(imported, config)
    for key, facts in steps.items():
        if facts["per_epoch"] is not None:
            macros[paper.macro_name("Steps", key)] = format_number(facts["per_epoch"], style="int")
    # The effective batch the step counts imply (an inference, stated with its arithmetic).
    train_pairs = config["data"]["pairs"] - config["data"]["heldout"]
    per_device = config["training"]["batch_size"]
    batches = original_study.effective_batches(
        {key: facts["per_epoch"] for key, facts in steps.items()}, train_pairs, per_device)
    macros |= original_study.batch_macros(batches, train_pairs, per_device, models)
    _, optimizers = _names(config)
    finals = [f"{latex_escape(models[k])} with {latex_escape(optimizers[o])}"
              for k, f in steps.items() for o in f["final"]]
    # Runs whose evaluations carry no step count: their epoch rests on the file names.
    macros["FinalRunidRuns"] = paper._join(finals) if finals else ""
    return macros


def steps_sentence(imported: Mapping[tuple, dict], config: Mapping) -> str:
    """Steps per epoch by model from the runids, and which runs carry no step count."""
    models, optimizers = _names(config)
    facts = steps_per_epoch(imported, config)
    known = [(k, f) for k, f in facts.items() if f["per_epoch"] is not None]
    parts = [f"{latex_escape(models[k])} {format_number(f['per_epoch'], style='int')}"
             for k, f in known]
    text = ""
    if parts:
        text = (f"The runids of the checkpoints give the steps per epoch: {paper._join(parts)}.")
        if all(f["consistent"] for _, f in known):
            text += " Every later epoch is that count times the epoch number, as the file names say."
    finals = [f"{latex_escape(models[k])} with {latex_escape(optimizers[o])}"
              for k, f in facts.items() for o in f["final"]]
    if finals:
        runid = next(imported[(k, o, 1)]["runid"] for k, f in facts.items() for o in f["final"])
        text += (f" For {paper._join(finals)}, the runid is \\texttt{{{latex_escape(runid)}}} in "
                 f"every epoch, so the epoch of those evaluations rests on the file names alone.")
    return text.strip()


# --------------------------------------------------------------------------- tables


def reconciliation_table(cells: Sequence[ReconciledCell]) -> str:
    """Every cell of the results table: the output value, and the brief's where it differs."""
    measures = list(paper.RANKING_MEASURES + paper.MRR_MEASURES)
    index = {(c.model, c.optimizer, c.epoch, c.column): c for c in cells}
    lines = [f"\\begin{{tabular}}{{@{{}}ll{'l' * len(measures)}@{{}}}}", "\\toprule",
             "Optimizer & Ep. & " + " & ".join(MEASURE_LABELS[m] for m in measures) + r" \\"]
    for model in paper.unique_in_order(c.model for c in cells):
        lines += ["\\midrule", f"\\multicolumn{{{2 + len(measures)}}}{{@{{}}l}}"
                               f"{{\\emph{{{latex_escape(model)}}}}}" + r" \\"]
        for i, optimizer in enumerate(paper.unique_in_order(c.optimizer for c in cells
                                                            if c.model == model)):
            if i:
                lines.append("\\addlinespace[2pt]")
            epochs = sorted({c.epoch for c in cells if c.model == model and c.optimizer == optimizer})
            for j, epoch in enumerate(epochs):
                row = [latex_escape(optimizer) if j == 0 else "", format_number(epoch, style="int")]
                for m in measures:
                    c = index[(model, optimizer, epoch, m)]
                    text = format_number(c.rounded)
                    if c.status != AGREES:
                        mark = "\\truncmark" if c.status == TRUNCATED else ""
                        text = f"\\textbf{{{text}}} ({format_number(c.brief)}{mark})"
                    row.append(text)
                lines.append(" & ".join(row) + r" \\")
    counts = [format_number(sum(c.column == m and c.status != AGREES for c in cells), style="int")
              for m in measures]
    lines += ["\\midrule", "\\multicolumn{2}{@{}l}{Differing} & " + " & ".join(counts) + r" \\",
              "\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def extra_measures_table(imported: Mapping[tuple, dict], config: Mapping) -> str:
    """Further trec_eval measures of the researcher's files, best per column in bold."""
    models, optimizers = _names(config)
    labels = list(EXTRA_MEASURES)
    best = {label: max(round(r["trec_eval"][f], 4) for r in imported.values())
            for label, f in EXTRA_MEASURES.items()}
    lines = [f"\\begin{{tabular}}{{@{{}}ll{'c' * len(labels)}@{{}}}}", "\\toprule",
             "Optimizer & Ep. & " + " & ".join(labels) + r" \\"]
    for model in config["models"]:
        lines += ["\\midrule", f"\\multicolumn{{{2 + len(labels)}}}{{@{{}}l}}"
                               f"{{\\emph{{{latex_escape(models[model])}}}}}" + r" \\"]
        for i, optim in enumerate(config["optimizers"]):
            if i:
                lines.append("\\addlinespace[2pt]")
            for epoch in range(1, config["study"]["epochs"] + 1):
                record = imported[(model, optim, epoch)]["trec_eval"]
                row = [latex_escape(optimizers[optim]) if epoch == 1 else "",
                       format_number(epoch, style="int")]
                for label, field in EXTRA_MEASURES.items():
                    value = round(record[field], 4)
                    text = format_number(value)
                    row.append(f"\\textbf{{{text}}}" if value == best[label] else text)
                lines.append(" & ".join(row) + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"
