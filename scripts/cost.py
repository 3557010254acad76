"""Snakemake entry point: sum the cost records of every training and reranking job into one table."""


from typing import TYPE_CHECKING

from crossopt.cost import cost_table
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(records: list[str], output: str, costs: dict) -> None:
    rows = cost_table(records, costs, output)
    total = rows[-1]
    print(f"{len(records)} cost records; {total['gpu_seconds'] / 3600:.4f} GPU hours in total")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(list(snakemake.input), snakemake.output[0], snakemake.params.costs)
