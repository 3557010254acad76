"""Writing outputs so that nobody ever sees one half-written.

Every writer in the package goes through `atomic_path`: the content is written to a
temporary name in the target's folder and renamed over the target only when it is
complete (a rename within one file system is atomic on POSIX). If writing fails, the
temporary file or folder is removed and the target is left as it was, so a failed
rule leaves nothing that Snakemake, or a rerun, could take for a finished output.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

Source = str | os.PathLike

# mkstemp/mkdtemp create private (0600/0700) entries; outputs get the usual umask modes.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_path(path: Source, directory: bool = False) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed over `path` when the block succeeds.

    With `directory`, the temporary path is an empty folder and `path` a folder that is
    replaced as a whole. Parent folders are created.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if directory:
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
        else:
            fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            tmp = Path(name)
    except OSError as error:
        raise _named(error, path) from None
    try:
        yield tmp
        os.chmod(tmp, (0o777 if directory else 0o666) & ~_UMASK)
        replace_path(tmp, path)
    except OSError as error:
        _remove(tmp)
        raise _named(error, path) from None
    except BaseException:
        _remove(tmp)
        raise


def replace_path(staging: Path, destination: Path) -> None:
    """Move a fully written file or folder over `destination`. A folder cannot be renamed over
    a non-empty one, so an existing folder is moved aside first and removed only once the new
    one is in place: at no moment is neither there."""
    staging, destination = Path(staging), Path(destination)
    if destination.is_dir() and not destination.is_symlink():
        old = destination.with_name(f".{destination.name}.old")
        _remove(old)
        os.replace(destination, old)
        os.replace(staging, destination)
        _remove(old)
    else:
        if staging.is_dir() and (destination.exists() or destination.is_symlink()):
            destination.unlink()  # a folder is not renamed over a file
        os.replace(staging, destination)


def _named(error: OSError, path: Path) -> OSError:
    """The same error, with the output it was writing and what to do in its message."""
    import errno

    hints = {errno.ENOSPC: "the disk is full: free space and run again",
             errno.EACCES: "no permission to write there: check the folder's owner and mode",
             errno.EROFS: "the file system is read-only",
             errno.EDQUOT: "the disk quota is used up"}
    hint = hints.get(error.errno, "")
    message = f"cannot write {path}: {error.strerror or error}" + (f" ({hint})" if hint else "") + \
        "; nothing was written there"
    return type(error)(error.errno, message) if error.errno else OSError(message)


def atomic_write_text(path: Source, text: str) -> None:
    """Write UTF-8 text (newlines as given) to `path` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)


def atomic_write_parquet(data: "pd.DataFrame | pa.Table", path: Source) -> None:
    """Write a DataFrame (without its index) or an Arrow table to Parquet atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
