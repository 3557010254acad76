"""Snakemake script: stage LaTeX sources and generated files, run latexmk, check the result."""

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from crossopt import paper
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(sources: list[str], generated: list[str], output: str, log: str, *,
         source_root: str) -> None:
    """Build `output` (a PDF in the build directory) from the sources below source_root;
    the first source is the main .tex file (main.tex, or supplement.tex).

    latexmk's full output goes beside the rule's log (`<log>.latexmk.log`); a build with
    undefined references or overfull boxes raises, so a broken paper never looks finished.
    """
    build_dir = Path(output).parent
    paper.stage_sources(Path(source_root), sources, generated, build_dir)
    pdf = paper.build_pdf(build_dir, Path(sources[0]).name,
                          log_path=Path(log).with_suffix(".latexmk.log"))
    # A text check on the finished PDF: no phrase said over and over (crossopt.paper_build).
    paper.check_repeated_phrases(pdf)
    if pdf.resolve() != Path(output).resolve():
        shutil.copyfile(pdf, output)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        main([snakemake.input.main, *snakemake.input.sources], list(snakemake.input.generated),
             snakemake.output[0], snakemake.log[0], source_root=snakemake.params.source_root)
