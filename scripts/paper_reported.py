"""Snakemake script: the paper's account of the researcher's files (reported results):
macros and sentences, the reconciliation table and the table of further measures."""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from crossopt import original_study, paper, paper_reported, recipe_search
from crossopt.evaluate import eval_locator
from crossopt.researcher_eval import read_reconciliation
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(reconciliation: str, brief: str, table: str, outputs: dict[str, str], *,
         config: dict, eval_pattern: str, facts: str | None = None,
         recipe_searches: list[str] = ()) -> None:
    """`outputs` has the paths of the macros, reconciliation and measures files; `facts` is
    paper.original_study (data/original-study/facts.yaml) or None; `recipe_searches` the
    replication's recipe_search.tsv, if it has one (\\RecipeChanceSentence)."""
    cells = read_reconciliation(reconciliation)
    imported = paper_reported.load_imported(eval_locator(eval_pattern), config)
    macros = paper_reported.reported_macros(cells, paper.read_results(brief),
                                            paper.read_results(table), imported, config)
    if facts:
        macros |= original_study.macros(original_study.load_facts(facts), config)
    macros |= recipe_search.macros(recipe_searches)
    texts = {
        outputs["macros"]: paper.render_macros(macros, {"originaldocs": bool(facts)}),
        outputs["reconciliation"]: paper_reported.reconciliation_table(cells),
        outputs["measures"]: paper_reported.extra_measures_table(imported, config),
    }
    for path, text in texts.items():
        Path(path).write_text(text, encoding="utf-8")
        logging.info("wrote %s", path)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main(snakemake.input.reconciliation, snakemake.input.brief, snakemake.input.table,
             dict(snakemake.output.items()), config=snakemake.params.config,
             eval_pattern=snakemake.params.eval_pattern,
             facts=snakemake.input.original_study[0] if snakemake.input.original_study else None,
             recipe_searches=list(snakemake.input.recipe_search))
