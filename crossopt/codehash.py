"""What a rule's results depend on besides its input files: this package's code and the
versions of the libraries that shape the numbers.

Every rule passes `code_version(<its script>)` as its `code` param (rules/common.smk).
Snakemake stores each job's params and plans the job again when they change, so:

- a change to a module that the rule's script imports, directly or through other modules
  of this package, reruns the rule and everything downstream of it;
- a change to a module it does not import reruns nothing;
- comments, blank lines, formatting and docstrings are not part of the digest: it is taken
  over each module's syntax tree, without docstrings, so a comment-only edit reruns nothing;
- a new version of one of `SHAPING_DISTRIBUTIONS` that the rule's modules import reruns
  the rule too.

The training fingerprint (crossopt.backends.run_fingerprint) includes the same value, so
a code change also starts training from the base model instead of resuming checkpoints
that older code wrote.

Imports are found in the syntax tree, wherever they are (lazy imports inside functions
included), plus string constants that name a module of this package in full
("crossopt.gte_model"), which is how the package's few dynamic imports are written.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from importlib import metadata
from pathlib import Path

PACKAGE = "crossopt"
PACKAGE_DIR = Path(__file__).resolve().parent

# Import name -> distribution: the libraries whose version can change a number this
# workflow writes (scores, rankings, measures, trained weights, tokenization).
SHAPING_DISTRIBUTIONS = {
    "torch": "torch",
    "transformers": "transformers",
    "sentence_transformers": "sentence-transformers",
    "lion_pytorch": "lion-pytorch",
    "tokenizers": "tokenizers",
    "accelerate": "accelerate",
    "pyserini": "pyserini",
    "pytrec_eval": "pytrec-eval-terrier",
}


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _package_modules() -> set[str]:
    return {path.stem for path in PACKAGE_DIR.glob("*.py") if path.stem != "__init__"}


def _module_path(name: str) -> Path:
    return PACKAGE_DIR / f"{name}.py"


@functools.lru_cache(maxsize=None)
def _parse(path: Path) -> tuple[str, frozenset[str], frozenset[str]]:
    """(syntax digest, package modules imported, top-level external imports) of one file."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    modules, external = set(), set()
    known = _package_modules()
    in_package = path.parent == PACKAGE_DIR

    def package_module(dotted: str) -> None:
        parts = dotted.split(".")
        if parts[0] == PACKAGE and len(parts) > 1 and parts[1] in known:
            modules.add(parts[1])

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    package_module(alias.name)
                else:
                    external.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level and in_package:
                base = node.module.split(".")[0] if node.module else None
                if base in known:
                    modules.add(base)
                elif base is None:
                    modules.update(alias.name for alias in node.names if alias.name in known)
            elif node.module and node.module.split(".")[0] == PACKAGE:
                if node.module == PACKAGE:
                    modules.update(alias.name for alias in node.names if alias.name in known)
                else:
                    package_module(node.module)
            elif node.module and not node.level:
                external.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(PACKAGE + "."):
            package_module(node.value)
    if in_package:
        modules.discard(path.stem)
    digest = hashlib.sha256(ast.dump(_strip_docstrings(tree), include_attributes=False).encode()).hexdigest()
    return digest, frozenset(modules), frozenset(external)


def module_closure(path: str | Path) -> list[str]:
    """The package modules that the file at `path` imports, directly or through each other, sorted."""
    _, todo, _ = _parse(Path(path).resolve())
    seen: set[str] = set()
    todo = set(todo)
    while todo:
        name = todo.pop()
        if name in seen or not _module_path(name).is_file():
            continue
        seen.add(name)
        todo |= set(_parse(_module_path(name))[1]) - seen
    return sorted(seen)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def code_version(script: str | Path, extra_modules: tuple[str, ...] = (), packages: tuple[str, ...] = ()) -> dict:
    """The `code` param of a rule: a digest of its script and of every package module the
    script imports (or `extra_modules` names, for shell rules), and the versions of the
    number-shaping libraries among their imports (or named in `packages`)."""
    files = [Path(script).resolve()] if script else []
    names: set[str] = set()
    for file in files:
        names |= set(module_closure(file))
    for name in extra_modules:  # shell rules: the modules their command runs, and what those import
        names |= {name, *module_closure(_module_path(name))}
    paths = files + [_module_path(name) for name in sorted(names)]
    digest = hashlib.sha256()
    external = set()
    for path in paths:
        syntax, _, imports = _parse(path)
        label = path.name if path in files else f"{PACKAGE}.{path.stem}"
        digest.update(f"{label}\0{syntax}\0".encode())
        external |= imports
    wanted = sorted({SHAPING_DISTRIBUTIONS[name] for name in external if name in SHAPING_DISTRIBUTIONS} | set(packages))
    return {"modules": digest.hexdigest()[:16], "libraries": {name: _version(name) for name in wanted}}
