"""Snakemake script: stage LaTeX sources and generated files, run latexmk, check the result."""

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from crossopt import paper

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(sources: list[str], generated: list[str], output: str, log: str, *,
         source_root: str) -> None:
    """Build `output` (a PDF in the build directory) from the sources below source_root.

    The log receives latexmk's full output; a build with undefined references or
    overfull boxes raises, so a broken paper never looks finished.
    """
    build_dir = Path(output).parent
    paper.stage_sources(Path(source_root), sources, generated, build_dir)
    pdf = paper.build_pdf(build_dir, log_path=Path(log))
    if pdf.resolve() != Path(output).resolve():
        shutil.copyfile(pdf, output)


if __name__ == "__main__":
    main([snakemake.input.main, *snakemake.input.sources], list(snakemake.input.generated),
         snakemake.output[0], snakemake.log[0], source_root=snakemake.params.source_root)
