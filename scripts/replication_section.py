"""Snakemake entry point: the SciFact replication section's macros, tables and figure."""


from typing import TYPE_CHECKING

from crossopt.logs import log_to
from crossopt.replication import write_section

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(root: str, config: dict, outputs, authors: list | None, recipe_search: str | None = None) -> None:
    numbers = write_section(root, config, {key: outputs[key] for key in ("macros", "results", "tests", "recipe",
                                                                          "figure", "authors")}, authors,
                            recipe_search=recipe_search, fresh=root == "results")
    print(f"replication section from {root}: seeds {numbers['seeds']}, epochs {numbers['epochs']}")


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(snakemake.params.root, snakemake.params.config, snakemake.output, snakemake.params.authors,
             snakemake.input.get("recipe_search"))
