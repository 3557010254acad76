"""Building the paper: the LaTeX log check, sentence checks on the PDF's text, staging the
sources and running latexmk."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from .paper import unique_in_order


# --------------------------------------------------------------------------- building


_OVERFULL = re.compile(r"^Overfull \\[hv]box \(([\d.]+)pt too (?:wide|high)\)(.*)$", re.M)
_UNDEFINED = re.compile(r"^(?:LaTeX|Package \w+) Warning: (?:Reference|Citation) .*undefined.*$",
                        re.M)


def latex_problems(log_text: str, max_overfull_pt: float = 1.0) -> list[str]:
    """What a clean build must not have: undefined references or citations, overfull boxes.

    Read from the final LaTeX log, so it reflects the last pass after latexmk converged.
    """
    problems = [m.group(0).strip() for m in _UNDEFINED.finditer(log_text)]
    if "There were undefined references" in log_text:
        problems.append("There were undefined references")
    problems += [m.group(0).strip() for m in _OVERFULL.finditer(log_text)
                 if float(m.group(1)) > max_overfull_pt]
    return unique_in_order(problems)


def pdf_sentences(text: str) -> list[str]:
    """Sentences of a PDF's text (pdftotext): line-end hyphens joined, whitespace folded."""
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
    text = re.sub(r"\s+", " ", text)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text) if s.strip()]


def repeated_sentences(text: str, min_words: int = 13) -> list[str]:
    """Sentences of at least `min_words` words that occur more than once in `text`."""
    seen: dict[str, int] = {}
    for sentence in pdf_sentences(text):
        if len(sentence.split()) >= min_words:
            seen[sentence] = seen.get(sentence, 0) + 1
    return [sentence for sentence, count in seen.items() if count > 1]


def lost_spaces(text: str) -> list[str]:
    """Places in a PDF's text where a sentence runs into the next without a space
    ("them.Because"): the mark of a LaTeX switch that swallowed the line end before it."""
    return re.findall(r"\b[a-z]+[.;:,][A-Z][a-z]+\b", text)


def stage_sources(source_root: Path, sources: Iterable[str | Path], generated: Iterable[str | Path],
                  build_dir: Path) -> None:
    """Copy LaTeX sources (keeping their paths below source_root) and generated files
    (flat, into build_dir/generated) so latexmk sees one self-contained tree."""
    source_root, build_dir = Path(source_root).resolve(), Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    for src in sources:
        src = Path(src).resolve()
        target = build_dir / src.relative_to(source_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    gen_dir = build_dir / "generated"
    if gen_dir.exists():
        shutil.rmtree(gen_dir)  # a figure dropped from config must not linger
    gen_dir.mkdir()
    for path in generated:
        shutil.copyfile(path, gen_dir / Path(path).name)


def build_pdf(build_dir: Path, main: str = "main.tex", *, log_path: Path | None = None,
              max_overfull_pt: float = 1.0) -> Path:
    """Run latexmk in build_dir and fail unless the result is clean.

    A PDF with '??' or overfull lines is not a finished paper, so problems raise
    instead of passing quietly.
    """
    build_dir = Path(build_dir)
    if shutil.which("latexmk") is None:
        raise RuntimeError("latexmk is not installed (see .ci/run for the TeX Live packages)")
    cmd = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
           main]
    proc = subprocess.run(cmd, cwd=build_dir, capture_output=True, text=True)
    if log_path is not None:
        Path(log_path).write_text(proc.stdout + proc.stderr, encoding="utf-8")
    latex_log = build_dir / Path(main).with_suffix(".log")
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"latexmk failed in {build_dir} (exit {proc.returncode}):\n{tail}")
    problems = latex_problems(latex_log.read_text(encoding="utf-8", errors="replace"),
                              max_overfull_pt)
    if problems:
        raise RuntimeError(f"{latex_log}: the build is not clean:\n  " + "\n  ".join(problems))
    return build_dir / Path(main).with_suffix(".pdf")
