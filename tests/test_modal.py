"""The Modal backend, offline: the app's configuration, the remote bodies run through
`Function.local()` against the local backend, the volume transfers, and the errors
a user without a token or secret sees."""

import json
import os
import subprocess
import sys
from pathlib import Path

import modal
import modal.config
import pandas as pd
import pytest
import yaml
from modal.exception import NotFoundError
from test_resume import comparable_log, make_tiny_run  # the same tiny run as the resume test

from crossopt import modal_app
from crossopt.backends import (
    BackendError,
    LocalVolumeSession,
    ModalVolumeStore,
    content_hash,
    ensure_uploaded,
    require_secret,
    rerank_with_backend,
    run_fingerprint,
    train_with_backend,
)
from crossopt.modal_app import DEFAULTS, build_app, modal_settings, remote_requirements, torch_requirement

ROOT = Path(__file__).resolve().parent.parent
SECTION = {
    "app": "crossopt-test",
    "volume": "crossopt-test-volume",
    "secret": "hf-test",
    "mount_path": "/data",
    "train": {"gpu": "L40S", "timeout": 7200, "cpu": 6.0, "memory": 24576, "retries": 5, "retry_delay": 30},
    "rerank": {"gpu": "A100-80GB:2", "timeout": 900, "cpu": 2.0, "memory": 8192, "retries": 1},
}


# --- the app


def test_app_defines_both_functions_with_the_configured_options():
    handle = build_app(SECTION)
    assert handle.app.name == "crossopt-test"
    train, rerank = handle.train.info(), handle.rerank.info()
    assert train.gpus == [("L40S", 1)] and rerank.gpus == [("A100-80GB", 2)]
    assert (train.timeout, rerank.timeout) == (7200, 900)
    assert (train.cpu, rerank.cpu) == (6.0, 2.0)
    assert (train.memory_mib, rerank.memory_mib) == (24576, 8192)
    assert (train.max_retries, rerank.max_retries) == (5, 1)
    for info in (train, rerank):
        assert list(info.volumes) == ["/data"] and info.volumes["/data"].name == "crossopt-test-volume"
        assert not info.volumes["/data"].read_only
        assert info.secrets == ["modal.Secret.from_name('hf-test')"]
    assert handle.volume.name == "crossopt-test-volume"
    # Unset keys keep their defaults.
    assert handle.settings["rerank"]["retry_delay"] == DEFAULTS["rerank"]["retry_delay"]
    assert handle.settings["hf_home"] == "hf-cache"


def test_default_app_and_no_secret():
    handle = build_app({"secret": None})
    assert handle.train.info().gpus == [(DEFAULTS["train"]["gpu"], 1)]
    assert handle.train.info().timeout == DEFAULTS["train"]["timeout"]
    assert handle.train.info().secrets == []


def test_unknown_or_invalid_modal_settings_name_the_key():
    with pytest.raises(ValueError, match=r"unknown key 'gpus' in 'modal.train'"):
        modal_settings({"train": {"gpus": "H100"}})
    with pytest.raises(ValueError, match=r"unknown key 'region' in 'modal'"):
        modal_settings({"region": "eu"})
    with pytest.raises(ValueError, match="mount_path"):
        modal_settings({"mount_path": "vol"})


def test_schema_defaults_match_the_code():
    from crossopt.config import load_schema, validate_config

    if "modal" not in load_schema()["properties"]:
        pytest.skip("config/schema.yaml has no modal section yet")
    config = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())
    config.pop("modal", None)
    validate_config(config)
    assert config["modal"] == DEFAULTS


def test_module_imports_offline_without_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env.update(HOME=str(tmp_path), MODAL_CONFIG_PATH=str(tmp_path / "absent.toml"))
    code = ("import crossopt.modal_app as m; h = m.build_app(None); "
            "print(h.train.info().gpus, h.rerank.info().timeout)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[('H100', 1)] 10800" in done.stdout


def test_image_installs_the_pinned_requirements_and_torch():
    pins = remote_requirements(ROOT / "requirements.txt")
    names = {p.split("==")[0].split("[")[0] for p in pins}
    assert {"sentence-transformers", "transformers", "accelerate", "lion-pytorch", "datasets"} <= names
    assert not names & {"pyserini", "faiss-cpu", "snakemake", "pytest", "modal"}
    assert all("==" in p for p in pins)
    conda = yaml.safe_load((ROOT / "envs" / "study.yaml").read_text())
    conda_pins = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert torch_requirement(ROOT / "Makefile") in conda_pins


# --- the remote bodies through .local(), against the local backend


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return make_tiny_run(tmp_path_factory.mktemp("tiny-run"))


def _train(backend, run, out, session=None):
    return train_with_backend(backend, run["settings"], run["model_spec"], run["base"], run["train"],
                              run["heldout"], out / "work", [out / f"epoch{e}" for e in (1, 2, 3)],
                              out / "trainer_state.json", 12, out / "cost.json", session=session)


class RecordingVolume:
    """Stands in for the mounted Volume: records reloads, and the checkpoints present at each commit."""

    def __init__(self, root: Path):
        self.root, self.calls = root, []

    def reload(self):
        self.calls.append("reload")

    def commit(self):
        self.calls.append(sorted(p.name for p in self.root.glob("runs/*/*/*/*/work/checkpoint-*")))


def test_remote_training_produces_the_files_of_the_local_backend(tiny_run, tmp_path, monkeypatch):
    local, remote, volume = tmp_path / "local", tmp_path / "remote", tmp_path / "volume"
    mounted = RecordingVolume(volume)
    monkeypatch.setattr(modal_app, "mounted_volume", lambda name: mounted if name == SECTION["volume"] else None)
    _train("local", tiny_run, local)
    summary = _train("modal", tiny_run, remote, LocalVolumeSession(volume, SECTION))
    # Reloaded once, committed after each epoch's checkpoint was complete, and once at the end.
    epochs = [["checkpoint-20"], ["checkpoint-20", "checkpoint-40"], ["checkpoint-20", "checkpoint-40", "checkpoint-60"]]
    assert mounted.calls == ["reload", *epochs, epochs[-1]]

    for epoch in (1, 2, 3):
        a, b = local / f"epoch{epoch}", remote / f"epoch{epoch}"
        # the same files, and where the checkpoint lies on the Volume (reranking reads it there)
        assert sorted(p.name for p in a.iterdir()) + ["volume.json"] == sorted(p.name for p in b.iterdir())
        pointer = json.loads((b / "volume.json").read_text())
        assert (volume / pointer["path"] / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
        assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
        assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()
    assert comparable_log(local / "trainer_state.json") == comparable_log(remote / "trainer_state.json")
    assert summary["best_epoch"] == json.loads((local / "trainer_state.json").read_text())["study_summary"]["best_epoch"]
    # Modal keeps its checkpoints on the Volume; the local work folder held only the call's record.
    assert not (remote / "work").exists() or not any((remote / "work").iterdir())

    local_cost = json.loads((local / "cost.json").read_text())
    remote_cost = json.loads((remote / "cost.json").read_text())
    assert (local_cost["backend"], local_cost["gpu"], local_cost["gpu_seconds"]) == ("local", "cpu", 0.0)
    assert (remote_cost["backend"], remote_cost["gpu"], remote_cost["attempts"]) == ("modal", "L40S", 1)
    assert 0 < remote_cost["gpu_seconds"] <= remote_cost["wall_seconds"]
    assert {remote_cost[k] for k in ("stage", "model", "optim", "seed")} == {"training", "minilm", "adamw", 12}

    # On the Volume: content-addressed inputs, the run folder named by its fingerprint.
    run_dir = volume / remote_cost["volume_run_dir"]
    assert run_dir.parent == volume / "runs" / "minilm" / "adamw" / "seed12"
    assert sorted(p.name for p in (run_dir / "work").glob("checkpoint-*")) == [
        "checkpoint-20", "checkpoint-40", "checkpoint-60"]
    assert len(list((volume / "inputs").iterdir())) == 3  # train, heldout, base model

    # A second call with the same request (a rerun, or a retry after the last save)
    # uploads nothing new and trains nothing: it resumes from the final checkpoint.
    before = (remote / "epoch3" / "model.safetensors").read_bytes()
    again = _train("modal", tiny_run, remote, LocalVolumeSession(volume, SECTION))
    assert again["resumed_from"] == str(run_dir / "work" / "checkpoint-60")
    assert (remote / "epoch3" / "model.safetensors").read_bytes() == before
    assert json.loads((remote / "cost.json").read_text())["attempts"] == 2
    assert len(list((volume / "inputs").iterdir())) == 3
    assert not (remote / "work" / "modal-call.json").exists()  # the call's record goes once its result is in

    # Reranking a checkpoint trained on Modal reads it on the Volume: only the candidates are uploaded.
    candidates = _candidates(tiny_run, tmp_path / "candidates.parquet")
    labels = {"model": "minilm", "optim": "adamw", "seed": 12, "epoch": 3, "testset": "toy"}
    rerank_with_backend("modal", remote / "epoch3", candidates, remote / "toy.trec", 16, 48, "tag",
                        remote / "toy.cost.json", labels, session=LocalVolumeSession(volume, SECTION))
    rerank_with_backend("local", local / "epoch3", candidates, local / "toy.trec", 16, 48, "tag",
                        local / "toy.cost.json", labels)
    assert (remote / "toy.trec").read_text() == (local / "toy.trec").read_text()
    uploaded = sorted(p.name for p in (volume / "inputs").glob("*/*"))
    assert uploaded == ["candidates.parquet", "heldout.parquet", "model", "train.parquet"]  # model: the base


class InterruptedWait(LocalVolumeSession):
    """The job stops while it waits (a killed Snakemake, a closed laptop): the call itself finished."""

    def wait(self, call_id):
        raise KeyboardInterrupt


def test_a_job_stopped_while_waiting_waits_on_the_same_call_when_run_again(tiny_run, tmp_path):
    volume, out = tmp_path / "volume", tmp_path / "out"
    first = InterruptedWait(volume, SECTION)
    with pytest.raises(KeyboardInterrupt):
        _train("modal", tiny_run, out, first)
    record = json.loads((out / "work" / "modal-call.json").read_text())
    assert record["call_id"] == first.spawned[0] and record["function"] == "train_on_volume"
    assert not (out / "epoch1").exists()

    again = LocalVolumeSession(volume, SECTION)
    summary = _train("modal", tiny_run, out, again)
    assert again.spawned == []  # no second training: the job waited on the first call
    assert summary["resumed_from"] is None and (out / "epoch3" / "model.safetensors").is_file()
    assert not (out / "work" / "modal-call.json").exists()
    assert json.loads((out / "cost.json").read_text())["attempts"] == 1


def test_a_deployment_of_other_code_refuses_the_call_and_a_rerun_starts_afresh(tiny_run, tmp_path, monkeypatch):
    volume, out = tmp_path / "volume", tmp_path / "out"
    # The container's settings differ from the caller's (another GPU was deployed).
    deployed = modal_app.deployed_settings(modal_settings({**SECTION, "train": {**SECTION["train"], "gpu": "A10G"}}))
    monkeypatch.setenv(modal_app.SETTINGS_ENV, json.dumps(deployed))
    session = LocalVolumeSession(volume, SECTION)
    with pytest.raises(RuntimeError, match=r"DeploymentMismatch: the deployed Modal app runs deployment \w+, "
                                           r"the calling checkout is \w+.*python -m crossopt.modal_app"):
        _train("modal", tiny_run, out, session)
    assert not (volume / "runs").exists()  # refused before training
    assert not (out / "work" / "modal-call.json").exists()  # a failed call is not waited on again
    monkeypatch.setenv(modal_app.SETTINGS_ENV, json.dumps(modal_app.deployed_settings(modal_settings(SECTION))))
    assert _train("modal", tiny_run, out, LocalVolumeSession(volume, SECTION))["best_epoch"] in (1, 2, 3)


def test_without_downloads_the_checkpoint_stays_on_the_volume(tiny_run, tmp_path):
    volume, out = tmp_path / "volume", tmp_path / "out"
    _train("modal", tiny_run, out, LocalVolumeSession(volume, {**SECTION, "download_checkpoints": False}))
    assert sorted(p.name for p in (out / "epoch2").iterdir()) == ["volume.json"]
    pointer = json.loads((out / "epoch2" / "volume.json").read_text())
    assert (volume / pointer["path"] / "model.safetensors").is_file() and pointer["downloaded"] is False
    candidates = _candidates(tiny_run, tmp_path / "candidates.parquet")
    labels = {"model": "minilm", "optim": "adamw", "seed": 12, "epoch": 2, "testset": "toy"}
    with pytest.raises(BackendError, match=rf"modal volume get crossopt-test-volume {pointer['path']} "):
        rerank_with_backend("local", out / "epoch2", candidates, out / "l.trec", 16, 48, "t", out / "l.json", labels)
    assert not (out / "l.trec").exists()
    pairs = rerank_with_backend("modal", out / "epoch2", candidates, out / "m.trec", 16, 48, "t", out / "m.json",
                                labels, session=LocalVolumeSession(volume, SECTION))
    assert pairs == 80 and len((out / "m.trec").read_text().splitlines()) == 80


def test_deployable_app_and_fingerprint_follow_the_config_files(tmp_path):
    overlay = tmp_path / "other.yaml"
    overlay.write_text("modal: {app: crossopt-other, train: {gpu: A100-80GB}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env.update(HOME=str(tmp_path), MODAL_CONFIG_PATH=str(tmp_path / "absent.toml"))

    def python(code, **extra):
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, **extra}, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    # What `modal deploy -m crossopt.modal_app` finds: the app of config.yaml, or of CROSSOPT_CONFIG's files.
    look = ("import crossopt.modal_app as m; "
            "print(m.app.name, m.build_app(m.deploy_section()).train.info().gpus[0][0])")
    assert python(look) == ["crossopt", "H100"]
    assert python(look, CROSSOPT_CONFIG=f"config.yaml{os.pathsep}{overlay}") == ["crossopt-other", "A100-80GB"]

    def fingerprint(*files):
        done = subprocess.run([sys.executable, "-m", "crossopt.modal_app", "--fingerprint", "--configfile", *files],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    client_only = tmp_path / "client.yaml"
    client_only.write_text("modal: {download_checkpoints: false, poll_seconds: 5}\n")
    base = fingerprint("config.yaml")
    assert len(base) == 16 and fingerprint("config.yaml", str(client_only)) == base
    assert fingerprint("config.yaml", str(overlay)) != base


def test_another_setting_or_input_is_another_run_folder():
    settings = {"model": "minilm", "optim": "adamw", "learning_rate": 2e-5}
    inputs = {"train": "inputs/aaa/train.parquet"}
    base = run_fingerprint(settings, {"source": "tiny"}, 12, inputs)
    assert base == run_fingerprint(dict(settings), {"source": "tiny"}, 12, dict(inputs))  # a retry: same folder
    assert base != run_fingerprint({**settings, "learning_rate": 1e-5}, {"source": "tiny"}, 12, inputs)
    assert base != run_fingerprint(settings, {"source": "tiny"}, 13, inputs)
    assert base != run_fingerprint(settings, {"source": "tiny"}, 12, {"train": "inputs/bbb/train.parquet"})


def _candidates(run: dict, path: Path) -> Path:
    heldout = pd.read_parquet(run["heldout"])
    queries = {q: f"q{i}" for i, q in enumerate(sorted(heldout["query"].unique()))}
    frame = pd.DataFrame({
        "qid": heldout["query"].map(queries),
        "docid": [f"d{i}" for i in range(len(heldout))],
        "rank": heldout.groupby("query").cumcount() + 1,
        "score": 1.0,
        "query": heldout["query"],
        "passage": heldout["passage"],
    })
    frame.to_parquet(path, index=False)
    return path


def test_remote_reranking_writes_the_run_of_the_local_backend(tiny_run, tmp_path):
    candidates = _candidates(tiny_run, tmp_path / "candidates.parquet")
    labels = {"model": "minilm", "optim": "adamw", "seed": 12, "epoch": 1, "testset": "toy"}
    outputs = {}
    for backend, session in (("local", None), ("modal", LocalVolumeSession(tmp_path / "volume", SECTION))):
        out = tmp_path / backend
        pairs = rerank_with_backend(backend, tiny_run["base"], candidates, out / "toy.trec", 16, 48, "tag",
                                    out / "toy.cost.json", labels, session=session)
        assert pairs == 80
        outputs[backend] = (out / "toy.trec").read_text()
        cost = json.loads((out / "toy.cost.json").read_text())
        assert cost["stage"] == "reranking" and cost["testset"] == "toy" and cost["backend"] == backend
    assert outputs["local"] == outputs["modal"] and len(outputs["local"].splitlines()) == 80
    assert (cost["gpu"], cost["gpu_count"]) == ("A100-80GB", 2)
    assert cost["gpu_seconds"] > 0


# --- the Modal volume store (against an object with the Volume API)


class FakeVolume:
    """listdir / read_file / batch_upload as modal.Volume has them: paths relative to the root."""

    def __init__(self, root: Path):
        self.root = root

    def listdir(self, path, recursive=False):
        from modal.volume import FileEntry, FileEntryType

        target = self.root / path
        if not target.exists():
            raise NotFoundError(f"No such file or directory: {path}")
        files = [target] if target.is_file() else sorted(p for p in target.rglob("*") if p.is_file())
        return [FileEntry(path=str(p.relative_to(self.root)), type=FileEntryType.FILE, mtime=0,
                          size=p.stat().st_size) for p in files]

    def read_file(self, path):
        data = (self.root / path).read_bytes()
        yield data[:3]
        yield data[3:]

    def batch_upload(self, force=False):
        volume = self

        class Batch:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def put_file(self, local, remote):
                target = volume.root / remote
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(Path(local).read_bytes())

            def put_directory(self, local, remote):
                for file in Path(local).rglob("*"):
                    if file.is_file():
                        self.put_file(file, f"{remote}/{file.relative_to(local)}")

        return Batch()


def test_modal_volume_store_moves_files_and_folders(tmp_path):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "sub" / "weights.bin").write_bytes(b"0123456789")
    store = ModalVolumeStore(FakeVolume(tmp_path / "volume"))

    remote = ensure_uploaded(store, folder, "model")
    assert remote == f"inputs/{content_hash(folder)[:24]}/model" and store.exists(remote)
    assert ensure_uploaded(store, folder, "model") == remote  # present: not uploaded again
    file_remote = ensure_uploaded(store, folder / "config.json", "config.json")

    store.download(remote, tmp_path / "back")
    assert (tmp_path / "back" / "sub" / "weights.bin").read_bytes() == b"0123456789"
    store.download(file_remote, tmp_path / "state.json")
    assert (tmp_path / "state.json").read_text() == "{}"
    assert not store.exists("inputs/absent")
    with pytest.raises(BackendError, match="'runs/absent' is not on the Modal volume"):
        store.download("runs/absent", tmp_path / "nothing")


def test_content_hash_sees_names_and_contents(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.txt").write_text("same")
    (tmp_path / "c" / "x.txt").rename(tmp_path / "c" / "y.txt")
    assert content_hash(tmp_path / "a") == content_hash(tmp_path / "b") != content_hash(tmp_path / "c")


# --- errors a user sees


def test_no_modal_token_says_how_to_authenticate(tiny_run, tmp_path, monkeypatch):
    for key in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(modal.config, "_user_config", {})
    with pytest.raises(BackendError) as raised:
        _train("modal", tiny_run, tmp_path / "out")
    message = str(raised.value)
    assert "modal token new" in message and "training.backend: local" in message
    assert not (tmp_path / "out").exists()  # failed before uploading or writing anything
    with pytest.raises(BackendError, match="rerank.backend: local"):
        rerank_with_backend("modal", tiny_run["base"], tiny_run["heldout"], tmp_path / "r.trec", 8, 48, "t",
                            tmp_path / "r.json", {"model": "m", "optim": "o"})


def test_missing_secret_names_it_and_how_to_create_it():
    def lookup(name):
        raise NotFoundError(f"Secret '{name}' not found in environment 'main'")

    with pytest.raises(BackendError) as raised:
        require_secret("hf-test", lookup=lookup)
    message = str(raised.value)
    assert "'hf-test'" in message and "modal secret create hf-test HF_TOKEN=" in message
    require_secret(None, lookup=lookup)  # no secret configured: nothing to check


def test_unknown_backend_is_an_error(tiny_run, tmp_path):
    with pytest.raises(ValueError, match="unknown backend 'slurm'"):
        _train("slurm", tiny_run, tmp_path)


def test_nothing_reaches_modal_in_these_tests():
    # .remote() outside a running or deployed app would fail: the tests above only used .local().
    with pytest.raises(modal.exception.ExecutionError):
        build_app(None).rerank.remote({}, "/vol")


def test_local_run_dir_resumes_same_run_and_restarts_changed_one(tmp_path):
    """A changed setting, input or code must not resume (and export) checkpoints trained
    under the old one; the old checkpoints stay until the new run has finished."""
    from crossopt.backends import local_run_dir, mark_finished, remove_other_runs, set_aside_finished_run

    train, heldout = tmp_path / "train.parquet", tmp_path / "heldout.parquet"
    train.write_bytes(b"pairs")
    heldout.write_bytes(b"held")
    spec = {"source": "hub", "hub_id": "x/y", "revision": "0" * 40}
    settings = {"model": "m", "optim": "lion", "learning_rate": 1e-5}
    code = {"modules": "a" * 16, "libraries": {"torch": "2.13.0"}}
    first = local_run_dir(tmp_path / "work", settings, spec, [], train, heldout, 12, code)
    (first / "checkpoint-10").mkdir(parents=True)
    assert local_run_dir(tmp_path / "work", settings, spec, [], train, heldout, 12, code) == first
    assert set_aside_finished_run(first) is None and (first / "checkpoint-10").exists()  # unfinished: resumes
    changed = local_run_dir(tmp_path / "work", {**settings, "learning_rate": 2e-5}, spec, [], train, heldout, 12, code)
    assert changed != first and (first / "checkpoint-10").exists()  # kept until the new run finishes
    (changed / "checkpoint-5").mkdir(parents=True)
    remove_other_runs(tmp_path / "work", changed)
    assert not first.exists() and changed.exists()
    assert local_run_dir(tmp_path / "work", settings, spec, [], train, heldout, 12,
                         {**code, "modules": "b" * 16}) != first  # other code: another folder
    assert local_run_dir(tmp_path / "work", settings, spec, [], train, heldout, 12,
                         {**code, "libraries": {"torch": "2.14.1"}}) != first  # another torch too
    train.write_bytes(b"other pairs")
    assert local_run_dir(tmp_path / "work", {**settings, "learning_rate": 2e-5}, spec, [], train, heldout, 12,
                         code) != changed


def test_a_finished_run_is_set_aside_not_resumed(tmp_path):
    """`--forcerun train` on a finished run trains from the base model: the finished folder
    is renamed, not deleted, until the new run finishes."""
    from crossopt.backends import FINISHED, mark_finished, remove_other_runs, set_aside_finished_run

    run = tmp_path / "work" / "abc"
    (run / "checkpoint-10").mkdir(parents=True)
    mark_finished(run)
    assert (run / FINISHED).is_file()
    previous = set_aside_finished_run(run)
    assert previous == tmp_path / "work" / "abc.previous" and (previous / "checkpoint-10").is_dir()
    assert not run.exists()  # the new run starts from nothing
    (run / "checkpoint-3").mkdir(parents=True)
    remove_other_runs(tmp_path / "work", run)
    assert not previous.exists() and (run / "checkpoint-3").is_dir()


def test_waiting_on_a_call_polls_until_its_result_is_in(monkeypatch, capsys):
    """ModalSession.wait against the exceptions modal 1.6's FunctionCall.get raises: the
    built-in TimeoutError while the call runs, OutputExpiredError once the result is gone.
    (The Modal client itself cannot be reached here; FunctionCall.from_id is replaced.)"""
    from modal.exception import OutputExpiredError

    from crossopt.backends import CallExpired, ModalSession

    class Call:
        def __init__(self, outcomes):
            self.outcomes, self.timeouts = list(outcomes), []

        def get(self, timeout=None):
            self.timeouts.append(timeout)
            outcome = self.outcomes.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome

    running = Call([TimeoutError(), TimeoutError(), {"summary": "done"}])
    monkeypatch.setattr(modal.FunctionCall, "from_id", lambda call_id: running)
    session = ModalSession({**SECTION, "poll_seconds": 5}, "training")
    assert session.wait("fc-1") == {"summary": "done"}
    assert running.timeouts == [5.0, 5.0, 5.0]
    assert capsys.readouterr().out.count("waiting for Modal call fc-1") == 2
    gone = Call([OutputExpiredError()])
    monkeypatch.setattr(modal.FunctionCall, "from_id", lambda call_id: gone)
    with pytest.raises(CallExpired, match="fc-2"):
        session.wait("fc-2")


def test_a_final_timeout_or_a_failed_call_ends_the_wait(monkeypatch, tmp_path):
    """modal's FunctionTimeoutError subclasses the poll timeout that means "still running";
    it is final (the last attempt ran out of time) and must end the wait, naming the call.
    A call that failed otherwise ends it too, and neither leaves a call record to wait on."""
    from modal.exception import FunctionTimeoutError, RemoteError

    from crossopt.backends import BackendError, ModalSession, call_function

    class Call:
        def __init__(self, outcomes):
            self.outcomes = list(outcomes)

        def get(self, timeout=None):
            outcome = self.outcomes.pop(0)
            raise outcome

    session = ModalSession({**SECTION, "poll_seconds": 1}, "training")
    timed_out = Call([TimeoutError(), FunctionTimeoutError("Function timed out")])
    monkeypatch.setattr(modal.FunctionCall, "from_id", lambda call_id: timed_out)
    with pytest.raises(BackendError, match=r"Modal call fc-3 ended: the function timed out on its last attempt"):
        session.wait("fc-3")
    assert timed_out.outcomes == []  # polled until the final timeout, and not after

    failed = Call([RemoteError("CUDA out of memory")])
    monkeypatch.setattr(modal.FunctionCall, "from_id", lambda call_id: failed)
    monkeypatch.setattr(ModalSession, "spawn", lambda self, which, request: "fc-4")
    record = tmp_path / "modal-call.json"
    with pytest.raises(BackendError, match=r"Modal call fc-4 \(\w+\) failed: RemoteError: CUDA out of memory"):
        call_function(session, "train", {"run_dir": "runs/x"}, record)
    assert not record.exists()
