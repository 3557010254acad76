"""Snakemake script: results table, optimizer-difference table, analysis and significance text."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from crossopt import paper, paper_analysis, replication as replication_section
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(table: str, results_tex: str, differences_tex: str, analysis_tex: str,
         significance_tex: str, analysis_macros_tex: str, *, config: dict, runs: dict, evaluations: list[str],
         significance: str | None = None, means: str | None = None,
         replication: dict | None = None, reference_points: str | None = None) -> None:
    """`config` holds the sections in paper.PAPER_CONFIG_KEYS, `runs` the per-run settings,
    `evaluations` the evaluation JSONs the table was built from (their query counts).

    `significance` and `means` are the statistics files of computed results
    (results/stats/); without them (reported results) the tables carry no markers or
    intervals and the significance file holds only a comment.

    `replication` ({"root", "config"} of the SciFact replication, or None) gives reported
    results a measured per-query spread to state as an assumed uncertainty scale.
    `reference_points` (data/reference/points.tsv, or None) holds published figures for
    the same queries, cited in the analysis. `analysis_macros_tex` gets the resolution
    limit for the abstract (paper_analysis.resolution_macros).
    """
    rows = paper.read_results(table)
    reference, candidate = paper.compared_optimizers(config["optimizers"])
    facts = paper.protocol_facts(config)
    borrowed = (replication_section.single_seed_difference_sd(replication["root"], replication["config"])
                if replication else None)
    counts = paper_analysis.query_counts(evaluations)
    ranking_key, _ = paper.measure_testsets(config)
    limit, limit_switches = paper_analysis.resolution_macros(
        counts.get(ranking_key), borrowed if significance is None else None)
    stats = None
    if significance is not None:
        stats = paper.load_statistics(significance, means, config)
        paper.check_statistics(stats, rows, reference=reference, candidate=candidate)
    outputs = {
        results_tex: paper.results_table(rows, ranking_name=facts["ranking_name"], stats=stats),
        differences_tex: paper.difference_table(rows, reference=reference, candidate=candidate,
                                                stats=stats),
        analysis_tex: paper_analysis.analysis_text(
            rows, config, runs, counts, reference=reference,
            candidate=candidate, per_query=stats is not None,
            borrowed=borrowed,
            reference_points=(paper_analysis.read_reference_points(reference_points)
                              if reference_points else ())),
        significance_tex: (paper.significance_text(stats, rows, reference=reference,
                                                   candidate=candidate)
                           if stats is not None else
                           "% Reported results: aggregates only, no per-query tests.\n"),
        analysis_macros_tex: paper.render_macros(limit, limit_switches),
    }
    for path, text in outputs.items():
        Path(path).write_text(text, encoding="utf-8")
        logging.info("wrote %s from %s (statistics: %s)", path, table, significance)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        inputs = dict(snakemake.input.items())
        main(inputs["table"], snakemake.output.results, snakemake.output.differences,
             snakemake.output.comparison, snakemake.output.significance,
             snakemake.output.analysis_macros,
             config=snakemake.params.config, runs=snakemake.params.runs,
             evaluations=list(snakemake.input.evaluations),
             significance=inputs.get("significance"), means=inputs.get("means"),
             replication=snakemake.params.replication,
             reference_points=snakemake.input.reference_points[0] if snakemake.input.reference_points else None)
