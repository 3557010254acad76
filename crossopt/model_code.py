"""Where a model's architecture code comes from, at training and at reranking alike.

A model key of the config says it in one place:

* nothing: the architecture is one that transformers ships (BERT/MiniLM, ModernBERT);
* `local_code: gte`: this project's implementation (`crossopt.gte_model`), registered
  for the checkpoint's `model_type` before loading, with `trust_remote_code` off so the
  hub's own code is never imported;
* `trust_remote_code: true` with `code_revision`: the model's code from the hub, pinned
  to a commit of the repository that holds it.

Training records this in every exported checkpoint (`MODEL_CODE_FILE`), because
sentence-transformers does not keep `trust_remote_code` in saved configs; reranking
reads it back, so a checkpoint loads with the code it was trained with, on any backend.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

MODEL_CODE_FILE = "crossopt_model_code.json"
# local_code name -> module with a register() function
LOCAL_CODE = {"gte": "crossopt.gte_model"}


def model_code(settings: dict) -> dict:
    """The model-code settings of a run (keys of crossopt.config.run_settings)."""
    code = {"local_code": settings.get("local_code"), "trust_remote_code": bool(settings.get("trust_remote_code")),
            "code_revision": settings.get("code_revision")}
    if code["local_code"] and code["trust_remote_code"]:
        raise ValueError("local_code and trust_remote_code exclude each other: the first replaces the hub's code")
    if code["local_code"] and code["local_code"] not in LOCAL_CODE:
        raise ValueError(f"unknown local_code {code['local_code']!r} (known: {', '.join(LOCAL_CODE)})")
    return code


def transformers_kwargs(code: dict) -> dict:
    """Keyword arguments for `AutoModelForSequenceClassification.from_pretrained(...)`;
    registers local code first."""
    if code.get("local_code"):
        importlib.import_module(LOCAL_CODE[code["local_code"]]).register()
    kwargs: dict = {"trust_remote_code": bool(code.get("trust_remote_code"))}
    if code.get("trust_remote_code") and code.get("code_revision"):
        kwargs["code_revision"] = code["code_revision"]
    return kwargs


def loading_kwargs(code: dict, model_kwargs: dict | None = None) -> dict:
    """The same for `CrossEncoder(...)`, which passes the code revision to both the config and
    the model class (both come from the code repository); `model_kwargs` (e.g. the dtype)
    are merged with it."""
    hf = transformers_kwargs(code)
    kwargs: dict = {"trust_remote_code": hf["trust_remote_code"]}
    model_kwargs = dict(model_kwargs or {})
    if "code_revision" in hf:
        kwargs["config_kwargs"] = {"code_revision": hf["code_revision"]}
        model_kwargs["code_revision"] = hf["code_revision"]
    if model_kwargs:
        kwargs["model_kwargs"] = model_kwargs
    return kwargs


def write_model_code(folder: str | Path, code: dict) -> None:
    """Record in a model folder which code loads it."""
    Path(folder, MODEL_CODE_FILE).write_text(json.dumps(code, indent=2, sort_keys=True) + "\n")


def read_model_code(folder: str | Path) -> dict:
    """The code a model folder was saved with; a folder without the record needs none."""
    path = Path(folder, MODEL_CODE_FILE)
    if not path.exists():
        return {}
    try:
        return model_code(json.loads(path.read_text()))
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: not a valid model-code record ({error})") from None


class ModelLoadError(RuntimeError):
    """A model folder cannot be loaded; the message names the folder and, where known, the file."""


def open_model(load, where: str):
    """`load()` (a CrossEncoder or transformers loading call) with its errors named: a corrupted weights
    file, a missing config or tokenizer, a folder that is not a model. `where` is the folder
    or hub id."""
    try:
        return load()
    except Exception as error:  # safetensors' SafetensorError, OSError, ValueError, json errors ...
        kind = type(error).__name__
        folder = Path(where)
        hint = ""
        if folder.is_dir():
            weights = sorted(p.name for p in folder.glob("*.safetensors")) + sorted(p.name for p in folder.glob("*.bin"))
            hint = (f" (files there: {', '.join(sorted(p.name for p in folder.iterdir())) or 'none'}; weights: "
                    f"{', '.join(weights) or 'none'})")
            if "safetensor" in kind.lower() or "safetensor" in str(error).lower():
                hint += "; the weights file is damaged or truncated: rebuild it (snakemake --forcerun the rule that wrote it)"
        raise ModelLoadError(f"{where}: cannot load the model ({kind}: {error}){hint}") from error

