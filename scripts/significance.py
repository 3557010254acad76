"""Snakemake entry point: paired significance tests and per-system intervals."""

from typing import TYPE_CHECKING

from crossopt.evaluate import eval_locator
from crossopt.logs import log_to
from crossopt.significance import study_significance, system_means
from crossopt.stats import write_significance_tsv
from crossopt.study import Grid, StatisticsSettings, columns_from
from crossopt.trec import atomic_write_text

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(plan: dict, eval_pattern: str, bm25_paths: dict, significance_out: str, means_out: str) -> None:
    """`plan` is `Study.statistics_params()`: the grid by key, the columns and the settings."""
    grid, columns = Grid.from_params(plan), columns_from(plan["columns"])
    settings = StatisticsSettings.from_params(plan["settings"])
    eval_path = eval_locator(eval_pattern)
    table = study_significance(grid, columns, settings, eval_path, bm25_paths)
    write_significance_tsv(table, significance_out)
    means = system_means(grid, columns, settings, eval_path, bm25_paths)
    atomic_write_text(means_out, means.to_csv(sep="\t", index=False, lineterminator="\n"))
    print(table.groupby("family")["significant"].value_counts().to_string())


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        main(p.plan, p.eval_pattern, p.bm25_paths, snakemake.output.significance, snakemake.output.means)
