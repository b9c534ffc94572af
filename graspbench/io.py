"""Writing files that are never half-written (a temporary name in the same folder, then a rename),
and reading files with errors that name the file, what is wrong and what to do."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with tempfile.NamedTemporaryFile(mode, dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(data)
    os.chmod(f.name, 0o644)  # temporary files are private; the result is not
    os.replace(f.name, path)


def save_checkpoint(path, payload) -> None:
    """A torch checkpoint (``torch.save`` of ``payload``), never half-written: the one checkpoint
    writer of every trainer."""
    import io

    # torch only where a checkpoint is written: io sits under every room, most never load torch.
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(path, buffer.getvalue())


def write_npz(path, arrays: dict) -> None:
    """Arrays into a compressed npz, never half-written."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def save_figure(fig, path) -> None:
    """Save a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, path)


# --- reading: a file that is not what it should be fails with one line naming it ----------------


class FileFormatError(ValueError):
    """A file graspbench reads is damaged or is not what it should be. The message names the file,
    says what is wrong and what to do; the command line prints it as one line."""


REASON_MAX_CHARS = 160


def _reason(error: BaseException) -> str:
    """The gist of an error in a few words: libraries' messages can be paragraphs."""
    mark = getattr(error, "problem_mark", None)  # a YAML syntax error: where it is
    if mark is not None:
        text = f"{getattr(error, 'problem', None) or 'syntax error'} at line {mark.line + 1}, column {mark.column + 1}"
    else:
        text = str(error).strip().splitlines()[0].split(". ")[0] if str(error).strip() else ""
    text = text if len(text) <= REASON_MAX_CHARS else text[:REASON_MAX_CHARS] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@contextmanager
def reading(path, what: str, fix: str):
    """Turn any failure inside the block into ``FileFormatError("PATH is not WHAT (why); FIX")``.

    Errors that already name the file (a ValueError mentioning ``path``, or a FileFormatError)
    pass unchanged.
    """
    try:
        yield
    except FileFormatError:
        raise
    except Exception as error:
        if isinstance(error, ValueError) and str(path) in str(error):
            raise
        raise FileFormatError(f"{path} is not {what} ({_reason(error)}); {fix}") from error


def read_npz(path, what: str, fix: str) -> dict:
    """Every array of an npz file (no pickles); a damaged one fails with a FileFormatError naming it."""
    import numpy as np

    with reading(path, what, fix), np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def read_csv(path, what: str, fix: str, columns=(), numeric=()):
    """A CSV with at least ``columns``, filled in every row, of which ``numeric`` hold numbers;
    anything else (no such file, garbage, a truncated file, other columns) fails with a
    FileFormatError naming it."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path} does not exist; {fix}")
    with reading(path, what, fix):
        frame = pd.read_csv(path)
        missing = [c for c in columns if c not in frame]
        if missing:
            raise ValueError(f"no column {', '.join(missing)}")
        incomplete = frame[list(columns)].isna().any(axis=1)
        if incomplete.any():  # line 1 is the header
            raise ValueError(f"line {int(incomplete.to_numpy().argmax()) + 2} is incomplete: a truncated file?")
        for column in numeric:
            pd.to_numeric(frame[column])
    return frame
