"""crossopt.atomic: a failed write leaves the old output (or none) and no temporary file."""

import os
import stat

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
