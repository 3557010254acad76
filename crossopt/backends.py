"""Where training and reranking run: `local` (this machine) or `modal` (a rented GPU).

The rule scripts call `train_with_backend` and `rerank_with_backend`. Both
backends run the same functions (`crossopt.train.train_cross_encoder`,
`crossopt.rerank.rerank_checkpoints`); the Modal backend only moves files:

1. upload the inputs to the Volume under a content hash (skipped when present);
2. spawn the deployed app's function (`python -m crossopt.modal_app` deploys it) and
   wait for its result. A training call's id is kept in the job's work folder, so a
   job that stops while it waits (a closed laptop, a killed Snakemake) waits on the
   same call when it is run again; the call itself goes on on Modal. Modal retries a
   failed attempt, and a retry resumes from the newest complete checkpoint on the Volume;
3. pull the outputs into the paths the workflow expects. Every exported checkpoint gets
   a `volume.json` naming where it lies on the Volume, and reranking reads it there in
   place; copying the checkpoint itself into results/ is `modal.download_checkpoints`;
4. write a cost record (GPU type, wall seconds, GPU seconds) next to the output.

A *session* bundles the volume store and the calls. `ModalSession` talks to the
deployed app; `LocalVolumeSession` runs the same function bodies in this process on a
folder that stands in for the Volume (tests and debugging, no account needed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import shutil
import time
import uuid
import warnings
from pathlib import Path, PurePosixPath
from typing import Callable, Protocol

from .atomic import atomic_write_text, replace_path

BACKENDS = ("local", "modal")

NO_TOKEN_MESSAGE = (
    "{stage}.backend is 'modal', but no Modal token is configured on this machine. "
    "Authenticate once with `modal token new` (it stores the token in ~/.modal.toml), or set "
    "MODAL_TOKEN_ID and MODAL_TOKEN_SECRET. To run on this machine instead, set "
    "`{stage}.backend: local` in the config."
)
NOT_DEPLOYED_MESSAGE = (
    "the Modal app {app!r} (config modal.app) has no function {function!r}: deploy the app once "
    "with the config files this workflow runs with, e.g. "
    "`.venv/bin/python -m crossopt.modal_app --configfile config.yaml config/modal.yaml` "
    "(docs/modal.md), then rerun."
)
MISSING_SECRET_MESSAGE = (
    "the Modal secret {name!r} (config modal.secret) does not exist in your Modal workspace. "
    "Create it once with `modal secret create {name} HF_TOKEN=<your Hugging Face token>` "
    "(a read token from https://huggingface.co/settings/tokens), or name an existing secret in modal.secret."
)


class BackendError(RuntimeError):
    """The backend cannot run: missing credentials, a missing secret, missing outputs."""


class CallExpired(BackendError):
    """Modal no longer holds the result of a call (it keeps results for a limited time)."""


# Names of the deployed functions (crossopt.modal_app registers the bodies under them).
FUNCTIONS = {"train": "train_on_volume", "rerank": "rerank_on_volume"}
# Written into every checkpoint folder the Modal backend exports: where it lies on the Volume.
VOLUME_POINTER = "volume.json"


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (expected one of {', '.join(BACKENDS)})")


# ---------------------------------------------------------------------------
# Content hashes, fingerprints, cost records


def content_hash(path: str | Path) -> str:
    """SHA-256 of a file, or of a folder's relative file names and contents."""
    path = Path(path)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if not files:
        raise FileNotFoundError(f"{path}: nothing to hash (missing or empty)")
    for file in files:
        digest.update(str(file.relative_to(path) if file != path else file.name).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


# Settings that say how often a run is checkpointed, not what it computes: a run keeps its
# folder (and resumes there) when they change.
CHECKPOINTING_SETTINGS = ("save_steps",)


def run_fingerprint(settings: dict, model_spec: dict, seed: int, input_keys: dict, code: dict | None = None) -> str:
    """A short hash of everything that determines a training run.

    The run's checkpoint folder (local or on the Volume) is named by it: a retry of the
    same run resumes there, while a changed setting, input or code (`code`, the train
    rule's crossopt.codehash.code_version) starts a fresh folder instead of resuming a
    checkpoint trained otherwise.
    """
    settings = {key: value for key, value in settings.items() if key not in CHECKPOINTING_SETTINGS}
    value = {"settings": settings, "model": model_spec, "seed": seed, "inputs": input_keys}
    if code is not None:
        value["code"] = code
    return json_digest(value)[:16]


def json_digest(value) -> str:
    """SHA-256 of a JSON-able value, independent of key order."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def parse_gpu(gpu: str) -> tuple[str, int]:
    """("H100", 2) from Modal's "H100:2"; the count defaults to 1."""
    name, _, count = str(gpu).partition(":")
    return name, int(count) if count else 1


def write_cost_record(path: str | Path, record: dict) -> None:
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def local_device() -> tuple[str, bool]:
    """(device name, is a GPU) of this machine."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0), True
    return "cpu", False


# ---------------------------------------------------------------------------
# Volume stores: the Modal Volume, or a local folder standing in for it


class VolumeStore(Protocol):
    def exists(self, path: str) -> bool: ...
    def upload(self, local: Path, remote: str) -> None: ...
    def download(self, remote: str, local: Path) -> None: ...


class LocalDirStore:
    """A folder used as the Volume (tests; also `LocalVolumeSession`)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def exists(self, path: str) -> bool:
        return (self.root / path).exists()

    def upload(self, local: Path, remote: str) -> None:
        self._copy(Path(local), self.root / remote)

    def download(self, remote: str, local: Path) -> None:
        source = self.root / remote
        if not source.exists():
            raise BackendError(f"{remote!r} is not on the volume ({self.root})")
        self._copy(source, Path(local))

    @staticmethod
    def _copy(source: Path, destination: Path) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = destination.with_name(f".{destination.name}.partial")
        if staging.exists():
            shutil.rmtree(staging) if staging.is_dir() else staging.unlink()
        if source.is_dir():
            shutil.copytree(source, staging)
        else:
            shutil.copy2(source, staging)
        replace_path(staging, destination)


class ModalVolumeStore:
    """Uploads and downloads through the Modal client (paths relative to the Volume root)."""

    def __init__(self, volume):
        self.volume = volume

    def exists(self, path: str) -> bool:
        from modal.exception import NotFoundError

        try:
            return bool(self.volume.listdir(path))
        except NotFoundError:
            return False

    def upload(self, local: Path, remote: str) -> None:
        local = Path(local)
        # One batch: Modal commits its files together when the block exits.
        with self.volume.batch_upload(force=True) as batch:
            if local.is_dir():
                batch.put_directory(str(local), remote)
            else:
                batch.put_file(str(local), remote)

    def download(self, remote: str, local: Path) -> None:
        from modal.exception import NotFoundError
        from modal.volume import FileEntryType

        local, prefix = Path(local), remote.strip("/")
        try:
            entries = [e for e in self.volume.listdir(prefix, recursive=True) if e.type == FileEntryType.FILE]
        except NotFoundError:
            entries = []
        if not entries:
            raise BackendError(f"{remote!r} is not on the Modal volume (or is empty)")
        local.parent.mkdir(parents=True, exist_ok=True)
        staging = local.with_name(f".{local.name}.partial")
        if staging.exists():
            shutil.rmtree(staging) if staging.is_dir() else staging.unlink()
        single_file = len(entries) == 1 and entries[0].path.strip("/") == prefix
        for entry in entries:
            relative = PurePosixPath(entry.path.strip("/")).relative_to(prefix)
            target = staging if single_file else staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as handle:
                for chunk in self.volume.read_file(entry.path):
                    handle.write(chunk)
        replace_path(staging, local)


def ensure_uploaded(store: VolumeStore, local: str | Path, name: str) -> str:
    """Upload a file or folder under `inputs/<hash>/<name>` unless it is there; returns that path."""
    remote = f"inputs/{content_hash(local)[:24]}/{name}"
    if not store.exists(remote):
        store.upload(Path(local), remote)
    return remote


# ---------------------------------------------------------------------------
# Sessions


class Session(Protocol):
    store: VolumeStore
    volume_name: str
    gpu: dict  # {"train": "H100", "rerank": "H100"}
    deployment: str  # crossopt.modal_app.deployment_fingerprint of this checkout and config
    download_checkpoints: bool

    def spawn(self, which: str, request: dict) -> str: ...  # starts a call, returns its id
    def wait(self, call_id: str) -> dict: ...  # its result; CallExpired when Modal dropped it


def require_modal_token(stage: str) -> None:
    """Fail before any upload when this machine has no Modal credentials."""
    from modal.config import config

    if not (config.get("token_id") and config.get("token_secret")):
        raise BackendError(NO_TOKEN_MESSAGE.format(stage=stage))


def require_secret(name: str | None, lookup: Callable[[str], object] | None = None) -> None:
    """Fail with the way to create it when the Hugging Face secret is missing on Modal."""
    if not name:
        return
    from modal.exception import NotFoundError

    if lookup is None:
        import modal

        def lookup(secret_name):
            return modal.Secret.from_name(secret_name).hydrate()

    try:
        lookup(name)
    except NotFoundError as error:
        raise BackendError(MISSING_SECRET_MESSAGE.format(name=name)) from error


class _SessionSettings:
    """What both sessions take from the `modal` section (defaults filled in)."""

    def _take(self, settings: dict) -> None:
        from .modal_app import deployment_fingerprint

        self.settings = settings
        self.volume_name = settings["volume"]
        self.mount_path = settings["mount_path"]
        self.gpu = {which: settings[which]["gpu"] for which in ("train", "rerank")}
        self.deployment = deployment_fingerprint(settings)
        self.download_checkpoints = bool(settings["download_checkpoints"])


class ModalSession(_SessionSettings):
    """The deployed app, its functions called by name (`with ModalSession(section, stage) as session:`).

    No app is started here: the functions run in the deployment of `modal.app`, so a job
    needs no open connection while its call runs, and any number of jobs share one app.
    """

    def __init__(self, section: dict | None, stage: str):
        import modal

        from .modal_app import modal_settings

        self.stage = stage
        self._take(modal_settings(section))
        self.poll_seconds = float(self.settings["poll_seconds"])
        self.store = ModalVolumeStore(modal.Volume.from_name(self.volume_name, create_if_missing=True))

    def __enter__(self):
        from modal.exception import AuthError

        require_modal_token(self.stage)
        try:
            require_secret(self.settings["secret"])
        except AuthError as error:
            raise BackendError(NO_TOKEN_MESSAGE.format(stage=self.stage) + f" (Modal said: {error})") from error
        return self

    def __exit__(self, *exc_info):
        return False

    def _function(self, which: str):
        import modal
        from modal.exception import NotFoundError

        function = modal.Function.from_name(self.settings["app"], FUNCTIONS[which])
        try:
            function.hydrate()
        except NotFoundError as error:
            raise BackendError(NOT_DEPLOYED_MESSAGE.format(app=self.settings["app"], function=FUNCTIONS[which])) \
                from error
        return function

    def spawn(self, which: str, request: dict) -> str:
        return self._function(which).spawn(request, self.mount_path).object_id

    def wait(self, call_id: str) -> dict:
        import modal
        from modal.exception import FunctionTimeoutError, OutputExpiredError
        from modal.exception import TimeoutError as PollTimeout

        call, start = modal.FunctionCall.from_id(call_id), time.monotonic()
        while True:
            try:
                return call.get(timeout=self.poll_seconds)
            except OutputExpiredError as error:
                raise CallExpired(f"Modal no longer holds the result of call {call_id}") from error
            except FunctionTimeoutError as error:
                # A subclass of the poll timeout below, but final: the function ran out of
                # time on its last attempt (its retries are used up). Waiting would never end.
                raise BackendError(
                    f"Modal call {call_id} ended: the function timed out on its last attempt, after "
                    f"{(time.monotonic() - start) / 60:.0f} min of waiting here ({error}). Its checkpoints stay "
                    "on the Volume: raise modal.<train|rerank>.timeout or retries, redeploy, and rerun the job "
                    "to resume") from error
            except (TimeoutError, PollTimeout):
                # modal 1.6's FunctionCall.get raises the built-in TimeoutError when the
                # result is not there yet (modal/_functions.py, poll_function).
                print(f"{_now()} waiting for Modal call {call_id} ({(time.monotonic() - start) / 60:.0f} min)",
                      flush=True)


class LocalVolumeSession(_SessionSettings):
    """The Modal functions' bodies run here (`Function.local()`) on a folder standing in for the Volume."""

    def __init__(self, root: str | Path, section: dict | None = None):
        from .modal_app import build_app

        self.root = Path(root)
        self.handle = build_app(section)
        self.store = LocalDirStore(self.root)
        self._take(self.handle.settings)
        self.spawned: list[str] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def run(self, which: str, request: dict) -> dict:
        """One attempt of the function body, here, on the folder (an error propagates)."""
        function = {"train": self.handle.train, "rerank": self.handle.rerank}[which]
        with _volume_is_a_folder():
            return function.local(request, str(self.root))

    def spawn(self, which: str, request: dict) -> str:
        """Runs the body to the end here; its result (or error) is kept under the call id, as Modal keeps it."""
        call_id = f"fc-local-{uuid.uuid4().hex[:12]}"
        self.spawned.append(call_id)
        record = self.root / ".calls" / f"{call_id}.json"
        try:
            result = {"result": self.run(which, request)}
        except Exception as error:  # the call failed: waiting on it raises
            result = {"error": f"{type(error).__name__}: {error}"}
        atomic_write_text(record, json.dumps(result, default=str))
        return call_id

    def wait(self, call_id: str) -> dict:
        record = self.root / ".calls" / f"{call_id}.json"
        if not record.is_file():
            raise CallExpired(f"no result of call {call_id}")
        result = json.loads(record.read_text())
        if "error" in result:
            raise RuntimeError(result["error"])
        return result["result"]


def _connection_errors() -> tuple[type[BaseException], ...]:
    """Errors of the link to Modal, not of the call: the call goes on, and a rerun waits on it again."""
    from modal.exception import ClientClosed
    from modal.exception import ConnectionError as ModalConnectionError

    return (ModalConnectionError, ClientClosed, OSError)


def call_function(session: Session, which: str, request: dict, record: str | Path | None = None,
                  keep_record: bool = False) -> dict:
    """Spawn the deployed function `which` on `request` and wait for its result.

    With a `record` path, the call's id is written there before the wait and removed
    when the result is in: a job that stops while it waits, run again with the same
    request, waits on the same call instead of starting another. A call Modal no longer
    holds, or one that failed, is not waited on again; the next run spawns a new call
    (a training call resumes from its newest checkpoint on the Volume). With `keep_record`
    the record of a call that returned stays, for the caller to remove once it has what it
    needs from the Volume.
    """
    request = {**request, "deployment": session.deployment}
    key = json_digest(request)[:24]
    record = Path(record) if record else None
    call_id = None
    if record and record.is_file():
        saved = json.loads(record.read_text())
        if saved.get("request") == key:
            call_id = saved["call_id"]
            print(f"waiting again on Modal call {call_id} (spawned {saved['spawned']})", flush=True)
        else:
            print(f"{record}: a call for another request ({saved.get('call_id')}); starting a new one")
    if call_id is None:
        call_id = session.spawn(which, request)
        if record:
            atomic_write_text(record, json.dumps({"call_id": call_id, "function": FUNCTIONS[which],
                                                  "request": key, "spawned": _now()}, indent=2) + "\n")
        print(f"spawned Modal call {call_id} ({FUNCTIONS[which]}); if this job stops, the call goes on "
              "and running the job again waits on it", flush=True)
    try:
        result = session.wait(call_id)
    except CallExpired:
        if record:
            record.unlink(missing_ok=True)
        print(f"Modal no longer holds the result of call {call_id}; spawning a new call", flush=True)
        return call_function(session, which, {k: v for k, v in request.items() if k != "deployment"}, record,
                             keep_record)
    except _connection_errors():
        raise  # the call goes on; the record stays for the next run
    except BackendError:
        if record:
            record.unlink(missing_ok=True)
        raise
    except Exception as error:
        if record:
            record.unlink(missing_ok=True)
        raise BackendError(f"Modal call {call_id} ({FUNCTIONS[which]}) failed: {type(error).__name__}: {error}") \
            from error
    if record and not keep_record:
        record.unlink(missing_ok=True)
    return result


@contextlib.contextmanager
def _volume_is_a_folder():
    # Modal warns that `.local()` has no Volume; here a folder stands in for it on purpose.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*executing locally and will not have access to the mounted Volume")
        yield


# ---------------------------------------------------------------------------
# Training


def model_location(model_spec: dict, base_dir: str | Path | list) -> tuple[str, str | None]:
    """(local folder or hub id, revision) of the model a run starts from."""
    if base_dir:  # a tiny model, or a pretrained one fetched and verified by the workflow
        return str(base_dir), None
    if model_spec["source"] != "hub":
        raise ValueError(f"a {model_spec['source']} model needs its local folder (the base_models rule's output)")
    return model_spec["hub_id"], model_spec["revision"]


def train_with_backend(
    backend: str,
    settings: dict,
    model_spec: dict,
    base_dir: str | Path | list,
    train: str | Path,
    heldout: str | Path,
    work_dir: str | Path,
    epoch_dirs: list[str | Path],
    state: str | Path,
    seed: int,
    cost_path: str | Path,
    modal_section: dict | None = None,
    session: Session | None = None,
    code: dict | None = None,
) -> dict:
    """Train one (model, optimizer, seed) run on `backend`; outputs land in `epoch_dirs` and `state`.

    `work_dir` holds the local backend's checkpoints; the Modal backend keeps its
    checkpoints on the Volume. `code` (the rule's code param) is part of the run's
    fingerprint. `session` replaces the Modal connection (tests).
    """
    _check_backend(backend)
    labels = {"stage": "training", "model": settings["model"], "optim": settings["optim"], "seed": seed}
    start = time.monotonic()
    if backend == "local":
        from .train import train_cross_encoder

        path, revision = model_location(model_spec, base_dir)
        run_dir = local_run_dir(work_dir, settings, model_spec, base_dir, train, heldout, seed, code)
        previous = set_aside_finished_run(run_dir)
        summary = train_cross_encoder(settings, path, train, heldout, run_dir, epoch_dirs, state, seed, revision)
        _write_local_cost(cost_path, labels, time.monotonic() - start, settings.get("use_cpu", False))
        mark_finished(run_dir)
        remove_other_runs(work_dir, run_dir)  # only now: what they hold is replaced
        if previous:
            print(f"retrained a finished run from the base model; its earlier checkpoints ({previous.name}) removed")
        return summary
    record = Path(work_dir) / "modal-call.json"
    with (session or ModalSession(modal_section, "training")) as active:
        result, run_dir = _train_remote(active, settings, model_spec, base_dir, train, heldout, seed, record, code)
        for epoch, destination in enumerate(epoch_dirs, start=1):
            export_from_volume(active, f"{run_dir}/models/epoch{epoch}", Path(destination))
        active.store.download(f"{run_dir}/trainer_state.json", Path(state))
        attempts = result["attempts"]
        _write_modal_cost(cost_path, labels, active, "train", result["device"], start,
                          [a["seconds"] for a in attempts], volume_run_dir=run_dir)
    # Kept until here: a job that fails while downloading waits on the same finished call
    # when run again, instead of training anew.
    record.unlink(missing_ok=True)
    print(f"trained on Modal in {run_dir} ({len(attempts)} attempt(s); discarded: {result['discarded'] or 'none'})")
    return result["summary"]


def local_run_dir(work_dir, settings, model_spec, base_dir, train, heldout, seed, code=None) -> Path:
    """The local backend's checkpoint folder for exactly this run: `work_dir/<fingerprint>`.

    As on the Volume, a rerun with the same settings, seed, inputs and code resumes its
    own unfinished checkpoints, while a changed setting, input or code starts afresh
    instead of exporting checkpoints trained otherwise. Folders of other fingerprints
    are removed once this run has finished (`remove_other_runs`), not before.
    """
    inputs = {"train": content_hash(train)[:24], "heldout": content_hash(heldout)[:24]}
    if model_spec["source"] == "tiny":
        inputs["model"] = content_hash(base_dir)[:24]
    # A fetched pretrained model is pinned by the sha256 in model_spec, already part of the fingerprint.
    return Path(work_dir) / run_fingerprint(settings, model_spec, seed, inputs, code)


# Written into a run's checkpoint folder once its job has exported every epoch.
FINISHED = "finished.json"


def mark_finished(run_dir: Path) -> None:
    atomic_write_text(Path(run_dir) / FINISHED, json.dumps({"finished": _now()}) + "\n")


def set_aside_finished_run(run_dir: Path) -> Path | None:
    """A run that finished is trained again from the base model when its job runs again
    (`--forcerun train`, or outputs deleted): resuming would only re-export the old
    weights. Its folder is renamed to `<fingerprint>.previous` and removed only after the
    new run has finished. An unfinished run (interrupted, failed) is left to resume."""
    run_dir = Path(run_dir)
    if not (run_dir / FINISHED).is_file():
        return None
    previous = run_dir.with_name(run_dir.name + ".previous")
    if previous.exists():
        shutil.rmtree(previous)
    run_dir.rename(previous)
    print(f"{run_dir} holds a finished run: training again from the base model "
          f"(the finished checkpoints stay in {previous} until this run finishes)")
    return previous


def remove_other_runs(work_dir, run_dir: Path) -> None:
    """Remove the checkpoint folders of other fingerprints (large: optimizer state included)."""
    for other in Path(work_dir).iterdir():
        if other != Path(run_dir) and other.is_dir():
            print(f"removing checkpoints of an earlier run or configuration: {other}")
            shutil.rmtree(other)


def export_from_volume(session: Session, remote: str, destination: Path) -> None:
    """One exported checkpoint into `destination`: its files (`download_checkpoints`) and
    always `volume.json`, which names the Volume and path reranking reads it from."""
    staging = destination.with_name(f".{destination.name}.export")
    if staging.exists():
        shutil.rmtree(staging)
    if session.download_checkpoints:
        session.store.download(remote, staging)
    else:
        staging.mkdir(parents=True)
    pointer = {"volume": session.volume_name, "path": remote, "deployment": session.deployment,
               "downloaded": session.download_checkpoints}
    (staging / VOLUME_POINTER).write_text(json.dumps(pointer, indent=2) + "\n")
    replace_path(staging, destination)


def volume_location(model_dir: str | Path) -> dict | None:
    """Where a checkpoint exported by the Modal backend lies on its Volume (None for others)."""
    pointer = Path(model_dir) / VOLUME_POINTER
    return json.loads(pointer.read_text()) if pointer.is_file() else None


def _require_local_weights(model_dir: str | Path) -> None:
    where = volume_location(model_dir)
    if where and not where.get("downloaded", True):
        raise BackendError(
            f"{model_dir} holds only {VOLUME_POINTER}: the checkpoint is on the Modal Volume {where['volume']!r} "
            f"at {where['path']} (modal.download_checkpoints was false). Rerank with `rerank.backend: modal`, "
            f"or copy it here: .venv/bin/modal volume get {where['volume']} {where['path']} {model_dir}")


def _train_remote(session: Session, settings, model_spec, base_dir, train, heldout, seed,
                  record: Path | None = None, code: dict | None = None) -> tuple[dict, str]:
    store = session.store
    inputs = {"train": ensure_uploaded(store, train, "train.parquet"),
              "heldout": ensure_uploaded(store, heldout, "heldout.parquet")}
    if base_dir:
        model = {"path": ensure_uploaded(store, base_dir, "model")}
    else:
        model = {"hub_id": model_spec["hub_id"], "revision": model_spec["revision"]}
    fingerprint = run_fingerprint(settings, model_spec, seed, {**inputs, **model}, code)
    run_dir = f"runs/{settings['model']}/{settings['optim']}/seed{seed}/{fingerprint}"
    request = {"volume": session.volume_name, "run_dir": run_dir, "settings": settings, "seed": seed,
               "model": model, **inputs}
    print(f"calling Modal: training {settings['model']}/{settings['optim']}/seed{seed} in {run_dir}")
    return call_function(session, "train", request, record, keep_record=True), run_dir


def _write_modal_cost(cost_path, labels: dict, session, stage: str, device: str, start: float,
                      attempt_seconds: list[float], **extra) -> None:
    """Cost record of a Modal call: GPU seconds are summed over attempts (retries are billed too)."""
    gpu, count = parse_gpu(session.gpu[stage])
    write_cost_record(cost_path, {
        **labels,
        "backend": "modal",
        "gpu": gpu,
        "gpu_count": count,
        "device": device,
        "wall_seconds": round(time.monotonic() - start, 3),
        "gpu_seconds": round(count * sum(attempt_seconds), 3),
        "attempts": len(attempt_seconds),
        "volume": session.volume_name,
        **extra,
        "recorded": _now(),
    })


def _write_local_cost(cost_path, labels: dict, seconds: float, use_cpu: bool) -> None:
    device, is_gpu = local_device()
    on_gpu = is_gpu and not use_cpu
    write_cost_record(cost_path, {
        **labels,
        "backend": "local",
        "gpu": device if on_gpu else "cpu",
        "gpu_count": 1 if on_gpu else 0,
        "device": device,
        "wall_seconds": round(seconds, 3),
        "gpu_seconds": round(seconds, 3) if on_gpu else 0.0,
        "attempts": 1,
        "recorded": _now(),
    })


# ---------------------------------------------------------------------------
# Reranking


def rerank_with_backend(
    backend: str,
    model_dir: str | Path,
    candidates: str | Path,
    output: str | Path,
    batch_size: int,
    max_length: int,
    tag: str,
    cost_path: str | Path,
    labels: dict,
    modal_section: dict | None = None,
    session: Session | None = None,
    options: dict | None = None,
) -> int:
    """Rerank one test set with one checkpoint on `backend`, write the run file; returns the pair count.

    `labels` (model, optim, seed, epoch, testset) go into the cost record; `options`
    are the scoring options of the `rerank` config section (crossopt.rerank.RerankOptions).
    """
    from .rerank import Checkpoint

    return rerank_run_with_backend(backend, [Checkpoint(model_dir, tag, [output])], [candidates], batch_size,
                                   max_length, cost_path, labels, modal_section, session, options)[0][0]


def rerank_run_with_backend(
    backend: str,
    checkpoints: list,
    candidates: list[str | Path],
    batch_size: int,
    max_length: int,
    cost_path: str | Path,
    labels: dict,
    modal_section: dict | None = None,
    session: Session | None = None,
    options: dict | None = None,
) -> list[list[int]]:
    """Rerank every candidates table with every checkpoint (crossopt.rerank.Checkpoint: folder,
    run tag, one run file per table) on `backend`, in one job: one process locally, one
    Modal call remotely. Returns the pair counts per checkpoint and table.

    One cost record covers the job. `labels` (model, optim, seed, epochs, test sets) go into
    it; `options` are the scoring options of the `rerank` config section
    (crossopt.rerank.RerankOptions).
    """
    _check_backend(backend)
    if not checkpoints or not candidates:
        raise BackendError("reranking: no checkpoint or no test set to rerank")
    labels = {"stage": "reranking", **labels}
    start = time.monotonic()
    if backend == "local":
        from .rerank import rerank_checkpoints

        for checkpoint in checkpoints:
            _require_local_weights(checkpoint.model_dir)
        pairs = rerank_checkpoints(checkpoints, candidates, batch_size, max_length, options)
        _write_local_cost(cost_path, labels, time.monotonic() - start, use_cpu=False)
        return pairs
    with (session or ModalSession(modal_section, "rerank")) as active:
        models = []
        for checkpoint in checkpoints:
            where = volume_location(checkpoint.model_dir)
            if where and where["volume"] != active.volume_name:
                raise BackendError(f"{checkpoint.model_dir} was trained on the Modal Volume {where['volume']!r}, "
                                   f"but modal.volume is {active.volume_name!r}: set modal.volume back, or retrain")
            # A checkpoint the Modal backend trained is read where it lies; others are uploaded once.
            models.append(where["path"] if where else ensure_uploaded(active.store, checkpoint.model_dir, "model"))
        request = {
            "volume": active.volume_name,
            "checkpoints": [{"model": model, "tag": checkpoint.tag} for model, checkpoint in zip(models, checkpoints)],
            "candidates": [ensure_uploaded(active.store, table, "candidates.parquet") for table in candidates],
            "batch_size": batch_size,
            "max_length": max_length,
            "options": options,
        }
        result = call_function(active, "rerank", request)
        runs = result["runs"]
        if len(runs) != len(checkpoints) or any(len(r) != len(candidates) for r in runs):
            raise BackendError(f"the Modal rerank call returned runs for {[len(r) for r in runs]} test sets of "
                               f"{len(runs)} checkpoints; asked for {len(candidates)} test sets of "
                               f"{len(checkpoints)}")
        for checkpoint, texts in zip(checkpoints, runs):
            for output, text in zip(checkpoint.outputs, texts):
                atomic_write_text(output, text)
        _write_modal_cost(cost_path, labels, active, "rerank", result["device"], start, [result["seconds"]])
    return [list(p) for p in result["pairs"]]
