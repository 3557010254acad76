"""Snakemake entry point: the brief's table, cell by cell, against the researcher's outputs."""

from typing import TYPE_CHECKING

from crossopt.evaluate import ReportCache, eval_locator
from crossopt.logs import log_to
from crossopt.paper import read_results
from crossopt.researcher_eval import AGREES, reconcile, write_reconciliation

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(brief: str, output: str, config: dict, eval_pattern: str) -> None:
    eval_path, read = eval_locator(eval_pattern), ReportCache()
    seed = config["study"]["seeds"][0]
    testsets = {spec["testset"] for spec in config["table"]["columns"].values()}
    reports = {(m, o, seed, e, t): read(eval_path(m, o, seed, e, t))
               for m in config["models"] for o in config["optimizers"]
               for e in range(1, config["study"]["epochs"] + 1) for t in testsets}
    cells = reconcile(read_results(brief), reports, config)
    write_reconciliation(output, cells)
    print(f"{sum(c.status != AGREES for c in cells)} of {len(cells)} cells of {brief} differ "
          f"from the researcher's outputs")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        main(snakemake.input.brief, snakemake.output[0], p.config, p.eval_pattern)
