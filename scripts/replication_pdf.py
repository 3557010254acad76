"""Snakemake entry point: the stand-alone SciFact replication paper (paper/replication.tex)."""

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from crossopt import paper
from crossopt.logs import log_to

if TYPE_CHECKING:
    from snakemake.script import snakemake


def main(main_tex: str, sources: list[str], generated: list[str], output: str, log: str, source_root: str) -> None:
    build_dir = Path(output).parent
    paper.stage_sources(Path(source_root), [main_tex, *sources], generated, build_dir)
    pdf = paper.build_pdf(build_dir, main=Path(main_tex).name, log_path=Path(log).with_suffix(".latexmk.log"))
    if pdf.resolve() != Path(output).resolve():
        shutil.copyfile(pdf, output)


if __name__ == "__main__":
    with log_to(snakemake.log[0]):
        i = snakemake.input
        main(i.main, list(i.sources), list(i.generated), snakemake.output[0], snakemake.log[0],
             snakemake.params.source_root)
