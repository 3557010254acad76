"""Snakemake entry point: the researcher's evaluation files -> the workflow's evaluation layout."""

from typing import TYPE_CHECKING

from crossopt.evaluate import eval_locator
from crossopt.logs import log_to
from crossopt.researcher_eval import import_evaluations, write_reports

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(folder: str, config: dict, eval_pattern: str, outputs: list[str]) -> None:
    reports = import_evaluations(folder, config)
    written = write_reports(reports, eval_locator(eval_pattern))
    if sorted(written) != sorted(outputs):
        raise RuntimeError(f"imported {len(written)} evaluations, but the rule promises "
                           f"{len(outputs)}: {sorted(set(outputs) ^ set(written))[:5]}")
    print(f"imported {len(written)} evaluations from {folder}")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        p = snakemake.params
        main(p.folder, p.config, p.eval_pattern, list(snakemake.output))
