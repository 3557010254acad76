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
# Any other warning of LaTeX, a class or a package (the first line of it).
_WARNING = re.compile(r"^(?:LaTeX|Package [\w-]+|Class \w+) Warning: .*$", re.M)
_BIBTEX_WARNING = re.compile(r"^Warning--.*$", re.M)


def latex_problems(log_text: str, max_overfull_pt: float = 1.0) -> list[str]:
    """What a clean build must not have: undefined references or citations, any other
    LaTeX or package warning, overfull boxes.

    Read from the final LaTeX log, so it reflects the last pass after latexmk converged.
    """
    problems = [m.group(0).strip() for m in _UNDEFINED.finditer(log_text)]
    if "There were undefined references" in log_text:
        problems.append("There were undefined references")
    problems += [m.group(0).strip() for m in _WARNING.finditer(log_text)]
    problems += [m.group(0).strip() for m in _OVERFULL.finditer(log_text)
                 if float(m.group(1)) > max_overfull_pt]
    return unique_in_order(problems)


def bibtex_problems(blg_text: str) -> list[str]:
    """BibTeX's warnings (missing fields, entries it could not read) from its .blg log."""
    return unique_in_order(m.group(0).strip() for m in _BIBTEX_WARNING.finditer(blg_text))


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


def _words(text: str) -> list[str]:
    """The words of a PDF's text: line-end hyphens joined, punctuation around words dropped,
    lower case."""
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
    words = (w.strip(".,;:()[]\u201c\u201d\"'\u2019").lower() for w in text.split())
    return [w for w in words if w]


def repeated_phrases(text: str, n: int = 6, max_count: int = 2) -> list[tuple[str, int]]:
    """Phrases of `n` words that occur more than `max_count` times, with their counts.

    A phrase counts when most of its words have letters, so that rows of numbers in a table
    are not phrases; table headers and prose are. Overlapping phrases of one repeated
    passage are all listed.
    """
    words = _words(text)
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - n + 1):
        gram = tuple(words[i:i + n])
        if sum(any(c.isalpha() for c in w) for w in gram) * 2 > n:
            counts[gram] = counts.get(gram, 0) + 1
    return [(" ".join(g), c) for g, c in counts.items() if c > max_count]


def pdf_body_text(pdf: Path) -> str:
    """A PDF's text in reading order (pdftotext -raw keeps each column's lines together),
    up to the references: the bibliography repeats venue names by nature."""
    text = subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    headings = list(re.finditer(r"^\f?(?:REFERENCES|References)\s*$", text, re.M))
    return text[:headings[-1].start()] if headings else text


def check_repeated_phrases(pdf: Path, n: int = 6, max_count: int = 2) -> None:
    """Raise when the PDF's body says a phrase of `n` words more than `max_count` times."""
    found = repeated_phrases(pdf_body_text(pdf), n, max_count)
    if found:
        raise RuntimeError(f"{pdf}: phrases of {n} words repeated more than {max_count} times:\n  "
                           + "\n  ".join(f"{count}x {phrase}" for phrase, count in found))


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


# LaTeX's request for another pass, and how many forced passes build_pdf adds for it.
RERUN_WARNING = "Label(s) may have changed. Rerun to get cross-references right."
RERUN_ATTEMPTS = 2


def build_pdf(build_dir: Path, main: str = "main.tex", *, log_path: Path | None = None,
              max_overfull_pt: float = 1.0) -> Path:
    """Run latexmk in build_dir and fail unless the result is clean.

    A PDF with '??' or overfull lines is not a finished paper, so problems raise
    instead of passing quietly.
    """
    build_dir = Path(build_dir)
    if shutil.which("latexmk") is None:
        raise RuntimeError("latexmk is not installed (see .ci/run for the TeX Live packages)")
    # Without its .aux (Snakemake removes a rule's outputs before running it), latexmk's record
    # of an earlier run makes it call BibTeX on an empty .aux first, which fails: start afresh.
    if not (build_dir / Path(main).with_suffix(".aux")).exists():
        for suffix in (".fdb_latexmk", ".bbl", ".blg"):
            (build_dir / Path(main).with_suffix(suffix)).unlink(missing_ok=True)
    cmd = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
           main]
    latex_log = build_dir / Path(main).with_suffix(".log")
    transcript = ""
    # latexmk can stop with LaTeX still asking for a rerun: it judges by whether the .aux file
    # changed, and once (2026-12-07, the reported paper of tests/test_paper.py in a fresh clone)
    # its last pass left the same .aux yet warned. A forced pass (-g) settles it; a paper whose labels never
    # settle still fails below.
    for attempt in range(1 + RERUN_ATTEMPTS):
        proc = subprocess.run(cmd[:1] + (["-g"] if attempt else []) + cmd[1:], cwd=build_dir,
                              capture_output=True, text=True)
        transcript += proc.stdout + proc.stderr
        if proc.returncode != 0 or RERUN_WARNING not in latex_log.read_text(encoding="utf-8", errors="replace"):
            break
    if log_path is not None:
        Path(log_path).write_text(transcript, encoding="utf-8")
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"latexmk failed in {build_dir} (exit {proc.returncode}):\n{tail}")
    problems = latex_problems(latex_log.read_text(encoding="utf-8", errors="replace"),
                              max_overfull_pt)
    blg = build_dir / Path(main).with_suffix(".blg")
    if blg.exists():
        problems += bibtex_problems(blg.read_text(encoding="utf-8", errors="replace"))
    if problems:
        raise RuntimeError(f"{latex_log}: the build is not clean:\n  " + "\n  ".join(problems))
    return build_dir / Path(main).with_suffix(".pdf")
