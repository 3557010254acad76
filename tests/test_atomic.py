"""crossopt.atomic: a failed write leaves the old output (or none) and no temporary file."""

import os
import re
import shutil
import stat
from pathlib import Path

import pandas as pd
import pytest

from crossopt.atomic import atomic_path, atomic_write_parquet, atomic_write_text


def test_text_is_written_with_the_usual_mode_and_nothing_else(tmp_path):
    target = tmp_path / "sub" / "table.tsv"
    atomic_write_text(target, "a\tb\n")
    assert target.read_text() == "a\tb\n"
    assert os.listdir(target.parent) == ["table.tsv"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "table.tsv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["table.tsv"]


def test_parquet_is_atomic_too(tmp_path):
    target = tmp_path / "pairs.parquet"
    frame = pd.DataFrame({"query": ["q"], "label": [1.0]})
    atomic_write_parquet(frame, target)
    assert pd.read_parquet(target).equals(frame)
    with pytest.raises(Exception):
        atomic_write_parquet(pd.DataFrame({"mixed": [1, "x"]}), target)  # Arrow refuses mixed types
    assert pd.read_parquet(target).equals(frame) and os.listdir(tmp_path) == ["pairs.parquet"]


def test_a_folder_is_replaced_as_a_whole(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "stale.bin").write_text("old")
    with atomic_path(target, directory=True) as staging:
        (staging / "config.json").write_text("{}")
    assert sorted(os.listdir(target)) == ["config.json"]
    with pytest.raises(OSError):
        with atomic_path(target, directory=True) as staging:
            (staging / "weights.bin").write_text("partial")
            raise OSError("disk full")
    assert sorted(os.listdir(target)) == ["config.json"] and os.listdir(tmp_path) == ["model"]


def _write_into_read_only_folder(folder):
    """atomic_write_text into `folder` (mode 0555): the error's message, or None if it wrote."""
    try:
        atomic_write_text(folder / "x.txt", "text")
    except PermissionError as error:
        return str(error)
    return None


# The user the check drops to where the tests run as root, who writes anywhere (Debian's nobody).
NOBODY = 65534


def test_a_read_only_folder_names_the_output_and_leaves_nothing(tmp_path):
    """A real permission error from the kernel. Root may write into any folder, so where the
    tests run as root (CI, containers) the write is made by a forked child that has given up
    root for `nobody`; the folder then lies where `nobody` may enter it."""
    import tempfile

    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="crossopt-readonly-")) if as_root else tmp_path
    folder = base / "out"
    folder.mkdir()
    os.chmod(base, 0o755)
    os.chmod(folder, 0o555)
    try:
        if not as_root:
            message = _write_into_read_only_folder(folder)
        else:
            read, write = os.pipe()
            child = os.fork()
            if child == 0:  # the child: drop root for good, try the write, report, exit
                try:
                    os.close(read)
                    os.setgroups([])
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
                    message = "the child can still write there" if os.access(folder, os.W_OK) \
                        else _write_into_read_only_folder(folder)
                except BaseException as error:  # reported to the parent, which fails the test
                    message = f"the child failed: {error!r}"
                try:
                    os.write(write, (message or "").encode())
                finally:
                    os._exit(0)
            os.close(write)
            with os.fdopen(read, "rb") as pipe:
                message = pipe.read().decode() or None
            os.waitpid(child, 0)
        assert message is not None, f"atomic_write_text wrote into the read-only folder {folder}"
        assert re.search(rf"cannot write {re.escape(str(folder))}/x\.txt: .*no permission", message), message
        assert list(folder.iterdir()) == []
    finally:
        os.chmod(folder, 0o755)
        if as_root:
            shutil.rmtree(base)


def test_a_full_disk_names_the_output_and_leaves_nothing(tmp_path, monkeypatch):
    """ENOSPC while the content is written (the rename never happens)."""
    import errno

    import pytest

    from crossopt import atomic

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"cannot write .*/table.tsv: No space left on device \(the disk is full"):
        with atomic.atomic_path(tmp_path / "table.tsv") as tmp:
            tmp.write_text("half")
            full()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_read_only_file_system_names_the_output(tmp_path, monkeypatch):
    """EROFS when the temporary file is created (what root meets on a read-only mount)."""
    import errno

    import pytest

    from crossopt import atomic

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    with pytest.raises(OSError, match=r"cannot write .*/run.trec: Read-only file system \(the file system is "
                                      r"read-only\); nothing was written there"):
        atomic.atomic_write_text(tmp_path / "run.trec", "q1 Q0 d1 1 1.0 t\n")
    assert not (tmp_path / "run.trec").exists()
