"""The Modal app: the study's training and reranking on a rented GPU.

The two function bodies, `train_on_volume` and `rerank_on_volume`, are plain
module-level functions that call the same `crossopt.train.train_cross_encoder`
and `crossopt.rerank.rerank_checkpoints` as the local backend, on paths inside a
Modal Volume. `build_app(section)` registers them with a Modal App built from the
config's `modal` section (GPU, timeout, CPU, memory, retries, volume, secret).
Modal imports this module inside the container and finds the bodies by name, so
the container needs no config; importing it needs no network.

The app is deployed once, and the workflow's jobs call its functions by name:

    .venv/bin/python -m crossopt.modal_app --configfile config.yaml config/modal.yaml
    CROSSOPT_CONFIG=config.yaml:config/modal.yaml .venv/bin/modal deploy -m crossopt.modal_app

(the module-level `app` that `modal deploy` finds is built from the `modal` section of
those files, or of config.yaml). A deployed app carries its *deployment fingerprint*,
a hash of its `modal` settings and of this package's source; every call sends the
fingerprint of the caller's checkout, and a deployment of other code or settings
refuses the call before it touches the GPU, with the command to redeploy.

Volume layout (paths relative to the mount point, `/vol` by default):

    hf-cache/                                   HF_HOME: hub models and datasets
    inputs/<content hash>/<name>                uploaded Parquet files and model folders
    runs/<model>/<optim>/seed<seed>/<fingerprint>/
        work/checkpoint-<step>/                 the trainer's resumable checkpoints
        models/epoch<N>/                        one exported model per epoch
        trainer_state.json
        attempts/<start>-<id>.json              GPU time of every attempt, retries included

A retried or restarted call resumes from the newest complete checkpoint in
`work/`: half-written checkpoints are removed first (`discard_incomplete_checkpoints`),
and the Volume is committed after every checkpoint (`CommitOnSave`).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import modal

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
# The deployed settings reach the container as JSON in this variable (see build_image).
SETTINGS_ENV = "CROSSOPT_MODAL_SETTINGS"
# Config files `modal deploy -m crossopt.modal_app` reads the `modal` section from.
CONFIG_ENV = "CROSSOPT_CONFIG"
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

# Defaults of the config's `modal` section (the schema fragment in docs/modal.md repeats them).
DEFAULTS: dict[str, Any] = {
    "app": "crossopt",
    "volume": "crossopt",
    "secret": "huggingface",
    "mount_path": "/vol",
    "hf_home": "hf-cache",
    "train": {"gpu": "H100", "timeout": 14400, "cpu": 8.0, "memory": 32768, "retries": 3, "retry_delay": 10.0},
    "rerank": {"gpu": "H100", "timeout": 10800, "cpu": 4.0, "memory": 16384, "retries": 2, "retry_delay": 10.0},
    # Client side only (not part of the deployment): copy every exported checkpoint from
    # the Volume into results/models/ (false: the folder holds only volume.json, and
    # reranking reads the checkpoint on the Volume either way).
    "download_checkpoints": True,
    # How often a waiting job asks Modal for its call's result, and prints that it waits.
    "poll_seconds": 60.0,
}
CLIENT_KEYS = ("download_checkpoints", "poll_seconds")

# requirements.txt entries the remote image leaves out: BM25 (Pyserini, Java), the
# workflow driver with its SLURM plugin and the tests run on the local machine; the
# container brings its own Modal client.
REMOTE_EXCLUDED = {"pyserini", "faiss-cpu", "snakemake", "snakemake-executor-plugin-slurm",
                   "snakemake-executor-plugin-slurm-jobstep", "throttler", "pytest", "modal"}

# Files a checkpoint needs before the trainer can resume from it; trainer_state.json
# is written last (transformers' Trainer._save_checkpoint).
RESUME_FILES = ("optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json")


# ---------------------------------------------------------------------------
# Settings and image


def modal_settings(section: dict | None) -> dict:
    """The config's `modal` section with defaults filled in (nested function blocks too)."""
    merged = copy.deepcopy(DEFAULTS)
    for key, value in (section or {}).items():
        if key not in merged:
            raise ValueError(f"unknown key {key!r} in 'modal' (allowed: {', '.join(sorted(merged))})")
        if isinstance(merged[key], dict):
            unknown = set(value) - set(merged[key])
            if unknown:
                raise ValueError(f"unknown key {', '.join(map(repr, sorted(unknown)))} in 'modal.{key}' "
                                 f"(allowed: {', '.join(sorted(merged[key]))})")
            merged[key].update(value)
        else:
            merged[key] = value
    if not str(merged["mount_path"]).startswith("/"):
        raise ValueError(f"'modal.mount_path' must be an absolute path, got {merged['mount_path']!r}")
    return merged


def deployed_settings(settings: dict) -> dict:
    """The settings that define the deployed app (the client-side keys left out)."""
    return {key: value for key, value in settings.items() if key not in CLIENT_KEYS}


def deployment_fingerprint(settings: dict, package_dir: Path = PACKAGE_DIR) -> str:
    """A short hash of the deployed settings and of every .py file of the crossopt package."""
    digest = hashlib.sha256(json.dumps(deployed_settings(settings), sort_keys=True).encode() + b"\0")
    for file in sorted(Path(package_dir).rglob("*.py")):
        if "__pycache__" not in file.parts:
            digest.update(str(file.relative_to(package_dir)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def running_deployment() -> str | None:
    """The fingerprint of the deployment this code runs in; None outside a deployed container."""
    encoded = os.environ.get(SETTINGS_ENV)
    return deployment_fingerprint(json.loads(encoded)) if encoded else None


class DeploymentMismatch(RuntimeError):
    """The deployed app runs other code or settings than the checkout that calls it."""


def check_deployment(request: dict) -> None:
    """Refuse a call from a checkout whose code or `modal` settings differ from the deployment's."""
    expected, running = request.get("deployment"), running_deployment()
    if expected and running and expected != running:
        raise DeploymentMismatch(
            f"the deployed Modal app runs deployment {running}, the calling checkout is {expected}: "
            "its code or its `modal` settings changed since `python -m crossopt.modal_app` last deployed it. "
            "Redeploy with the same config files the workflow uses, e.g. "
            "`.venv/bin/python -m crossopt.modal_app --configfile config.yaml config/modal.yaml`, then rerun.")


def _requirement_name(line: str) -> str:
    return re.split(r"[\[=<>!~ ;]", line, maxsplit=1)[0].strip().lower()


def remote_requirements(requirements: str | Path = PROJECT_ROOT / "requirements.txt") -> list[str]:
    """The project's pinned requirements that the training and reranking functions need."""
    lines = [line.split("#", 1)[0].strip() for line in Path(requirements).read_text().splitlines()]
    return [line for line in lines if line and _requirement_name(line) not in REMOTE_EXCLUDED]


def torch_requirement(makefile: str | Path = PROJECT_ROOT / "Makefile") -> str:
    """The torch pin the Makefile installs (torch is kept out of requirements.txt)."""
    match = re.search(r"pip install\b[^\n]*?\b(torch==[0-9][^\s]*)", Path(makefile).read_text())
    if not match:
        raise ValueError(f"{makefile}: no `pip install ... torch==<version>` line to take the torch pin from")
    return match.group(1)


def build_image(settings: dict, project_root: Path = PROJECT_ROOT) -> modal.Image:
    """Debian slim with the local Python version, the pinned packages and the crossopt package.

    On Linux the PyPI torch wheel of the pinned version is the CUDA build.
    """
    return (
        modal.Image.debian_slim(python_version=PYTHON_VERSION)
        .pip_install(torch_requirement(project_root / "Makefile"))
        .pip_install(*remote_requirements(project_root / "requirements.txt"))
        .env({
            "HF_HOME": f"{settings['mount_path']}/{settings['hf_home']}",
            "TOKENIZERS_PARALLELISM": "false",
            SETTINGS_ENV: json.dumps(deployed_settings(settings), sort_keys=True),
        })
        .add_local_python_source("crossopt")
    )


@dataclass
class ModalApp:
    """The App, its Volume and the two registered Functions, built from one `modal` section."""

    app: modal.App
    volume: modal.Volume
    train: modal.Function
    rerank: modal.Function
    settings: dict


def function_options(settings: dict, which: str) -> dict:
    """GPU, timeout, CPU, memory and retries of one function ("train" or "rerank")."""
    opts = settings[which]
    return {
        "gpu": opts["gpu"],
        "timeout": int(opts["timeout"]),
        "cpu": float(opts["cpu"]),
        "memory": int(opts["memory"]),
        # Fixed delay: a retry resumes from the last checkpoint, there is nothing to back off from.
        "retries": modal.Retries(max_retries=int(opts["retries"]), backoff_coefficient=1.0,
                                 initial_delay=float(opts["retry_delay"])),
    }


def build_app(section: dict | None = None, project_root: Path = PROJECT_ROOT) -> ModalApp:
    """Build the App from a `modal` config section. Offline: Modal objects are lazy until run."""
    settings = modal_settings(section)
    app = modal.App(settings["app"], include_source=False)
    image = build_image(settings, project_root)
    volume = modal.Volume.from_name(settings["volume"], create_if_missing=True)
    # The token reaches the container as HF_TOKEN; it is never part of the config.
    secrets = [modal.Secret.from_name(settings["secret"])] if settings["secret"] else []
    common = {"image": image, "volumes": {settings["mount_path"]: volume}, "secrets": secrets}
    train = app.function(**common, **function_options(settings, "train"))(train_on_volume)
    rerank = app.function(**common, **function_options(settings, "rerank"))(rerank_on_volume)
    return ModalApp(app=app, volume=volume, train=train, rerank=rerank, settings=settings)


# ---------------------------------------------------------------------------
# Helpers of the remote bodies


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _write_json(path: Path, data: dict) -> None:
    from .atomic import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def mounted_volume(name: str) -> modal.Volume | None:
    """The Volume inside a Modal container; None where the body runs in this process (`.local()`)."""
    if modal.is_local():
        return None
    return modal.Volume.from_name(name)


def checkpoint_is_complete(folder: Path) -> bool:
    """A checkpoint can be resumed from: the resume files exist and trainer_state.json parses."""
    if not all((folder / name).is_file() for name in RESUME_FILES):
        return False
    try:
        json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return True


def discard_incomplete_checkpoints(work_dir: Path) -> list[str]:
    """Remove half-written `checkpoint-*` folders (an attempt stopped while saving); returns their names.

    `crossopt.train.checkpoint_epochs` already skips folders without trainer_state.json;
    removing them also covers a truncated state file and keeps a later save of the
    same step from mixing with stale files.
    """
    removed = []
    for folder in sorted(Path(work_dir).glob("checkpoint-*")):
        if folder.is_dir() and not checkpoint_is_complete(folder):
            shutil.rmtree(folder)
            removed.append(folder.name)
    return removed


class AttemptClock:
    """GPU time of one attempt, kept on the Volume so retried and preempted attempts are counted.

    `save()` rewrites the record; it is called at start, after every checkpoint and at
    the end, so an attempt that is killed keeps the time up to its last checkpoint.
    """

    def __init__(self, folder: Path, device: str):
        self.started = _now()
        self.path = Path(folder) / f"{self.started.replace(':', '')}-{uuid.uuid4().hex[:8]}.json"
        self.device = device
        self._start = time.monotonic()

    def seconds(self) -> float:
        return time.monotonic() - self._start

    def save(self, status: str = "running") -> None:
        _write_json(self.path, {"started": self.started, "seconds": round(self.seconds(), 3),
                                "status": status, "device": self.device})


def read_attempts(folder: Path) -> list[dict]:
    """Every attempt record of a run, oldest first; `running` means it stopped without finishing."""
    return sorted((json.loads(p.read_text()) for p in Path(folder).glob("*.json")), key=lambda a: a["started"])


@contextlib.contextmanager
def trainer_callbacks(*callbacks):
    """Attach TrainerCallbacks to every trainer that `crossopt.train` builds inside this block.

    `train_cross_encoder` takes no callbacks argument; wrapping its trainer factory
    for the duration of the call leaves the one training entry point unchanged.
    """
    from . import train as train_module

    make_trainer_class = train_module._study_trainer_class

    def with_callbacks():
        base = make_trainer_class()

        class StudyTrainerWithCallbacks(base):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                for callback in callbacks:
                    self.add_callback(callback)

        return StudyTrainerWithCallbacks

    train_module._study_trainer_class = with_callbacks
    try:
        yield
    finally:
        train_module._study_trainer_class = make_trainer_class


def commit_on_save(commit: Callable[[], None], clock: AttemptClock):
    """A TrainerCallback that records the attempt's time and commits the Volume after each checkpoint."""
    from transformers import TrainerCallback

    class CommitOnSave(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            clock.save()
            commit()

    return CommitOnSave()


def run_paths(root: Path, run_dir: str, epochs: int) -> dict:
    """Where one training run keeps its files on the Volume (see the module docstring)."""
    run = Path(root) / run_dir
    return {
        "run": run,
        "work": run / "work",
        "epochs": [run / "models" / f"epoch{e}" for e in range(1, epochs + 1)],
        "state": run / "trainer_state.json",
        "attempts": run / "attempts",
    }


# ---------------------------------------------------------------------------
# Remote bodies (registered by build_app; also callable through Function.local())


def train_on_volume(request: dict, root: str) -> dict:
    """Train one run on the Volume mounted at `root`, resuming from its newest complete checkpoint.

    `request` (built by `crossopt.backends`): volume, run_dir, settings, seed, model
    ({"path": volume path} or {"hub_id", "revision"}), train, heldout (volume paths).
    Returns the training summary and every attempt's GPU time.
    """
    from .train import train_cross_encoder

    check_deployment(request)
    root = Path(root)
    volume = mounted_volume(request["volume"])
    if volume is not None:
        volume.reload()  # a warm container may predate the inputs just uploaded
    commit = volume.commit if volume is not None else (lambda: None)
    settings, model = request["settings"], request["model"]
    paths = run_paths(root, request["run_dir"], settings["epochs"])
    discarded = discard_incomplete_checkpoints(paths["work"])
    device = device_name()
    clock = AttemptClock(paths["attempts"], device)
    clock.save()
    status = "failed"
    try:
        with trainer_callbacks(commit_on_save(commit, clock)):
            summary = train_cross_encoder(
                settings,
                str(root / model["path"]) if "path" in model else model["hub_id"],
                root / request["train"],
                root / request["heldout"],
                paths["work"],
                paths["epochs"],
                paths["state"],
                request["seed"],
                model.get("revision"),
            )
        status = "finished"
    finally:
        clock.save(status)
        commit()
    return {"summary": summary, "attempts": read_attempts(paths["attempts"]), "discarded": discarded,
            "device": device}


def rerank_on_volume(request: dict, root: str) -> dict:
    """Rerank test sets' candidates with a training run's checkpoints on the Volume, in one
    call; returns the run texts per checkpoint and table, in their order.

    `request`: volume; checkpoints (a list of {model: volume path, tag}); candidates (a list
    of volume paths); batch_size, max_length, options.
    """
    from .rerank import Checkpoint, rerank_checkpoints

    check_deployment(request)
    start = time.monotonic()
    root = Path(root)
    volume = mounted_volume(request["volume"])
    if volume is not None:
        volume.reload()
    device = device_name()
    tables = [root / table for table in request["candidates"]]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints = [Checkpoint(root / item["model"], item["tag"],
                                  [Path(tmp) / f"run-{i}-{j}.trec" for j in range(len(tables))])
                       for i, item in enumerate(request["checkpoints"])]
        pairs = rerank_checkpoints(checkpoints, tables, request["batch_size"], request["max_length"],
                                   request.get("options"))
        runs = [[Path(output).read_text() for output in checkpoint.outputs] for checkpoint in checkpoints]
    return {"runs": runs, "pairs": pairs, "seconds": time.monotonic() - start, "device": device}


# ---------------------------------------------------------------------------
# Deployment


def deploy_section(config_files: list[str] | None = None) -> dict | None:
    """The `modal` section of the study's config files (config.yaml when none are named)."""
    from .config import compose_config

    files = config_files
    if files is None:
        files = [f for f in os.environ.get(CONFIG_ENV, "").split(os.pathsep) if f]
    config = compose_config(files, None, PROJECT_ROOT / "config.yaml")
    return config.get("modal")


def __getattr__(name: str):
    # `modal deploy -m crossopt.modal_app` looks up `app`; it is built on first access, from
    # the files in CROSSOPT_CONFIG. Inside a container Modal finds the bodies by name instead.
    if name == "app":
        return build_app(deploy_section()).app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def deploy(settings: dict) -> str:
    """Deploy the app of a `modal` section (with defaults filled in); returns its deployment fingerprint."""
    handle = build_app(settings)
    with modal.enable_output():
        handle.app.deploy(name=settings["app"])
    return deployment_fingerprint(settings)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m crossopt.modal_app",
        description="Deploy the study's Modal app (training and reranking functions) from the config's `modal` section.")
    parser.add_argument("--configfile", nargs="*", default=[],
                        help="the config files the workflow runs with (default: config.yaml)")
    parser.add_argument("--fingerprint", action="store_true",
                        help="print the deployment fingerprint of this checkout and config, deploy nothing")
    args = parser.parse_args(argv)
    settings = modal_settings(deploy_section(args.configfile))
    if args.fingerprint:
        print(deployment_fingerprint(settings))
        return 0
    print(f"deployed Modal app {settings['app']!r}, deployment {deploy(settings)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
