"""Writing files that are never half-written (a temporary name in the same folder, then a rename),
and reading files with errors that name the file, what is wrong and what to do."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import inspect
import io
import json
import os
import re
import sys
import tempfile
import zipfile
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np

from .options import check_resume

# torch, pandas and matplotlib are imported in the functions that use them, not here: io sits under
# every room, and the command line, the scripted agents and the benchmark's workers import it, most
# of them never writing a checkpoint, reading a CSV or drawing a figure.


def write_atomic(path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with tempfile.NamedTemporaryFile(mode, dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        try:
            f.write(data)
        except BaseException:  # a full disk, Ctrl-C: leave no temporary file behind
            f.close()
            os.unlink(f.name)
            raise
    os.chmod(f.name, 0o644)  # temporary files are private; the result is not
    os.replace(f.name, path)


def save_checkpoint(path, payload) -> None:
    """A torch checkpoint (``torch.save`` of ``payload``), never half-written: the one checkpoint
    writer of every trainer."""
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(path, buffer.getvalue())


def read_checkpoint_dict(path, what: str, fix: str, accept, why: str, weights_only: bool = False) -> dict:
    """The dict a checkpoint file holds (``torch.load`` on the CPU); a damaged file, one that holds
    no dict or one that ``accept(checkpoint)`` refuses fails as :func:`reading` says, naming
    ``what`` it should be, ``why`` it is not and ``fix``. The one loader of the checkpoints whose
    files say what they are."""
    import torch

    with reading(path, what, fix):
        checkpoint = torch.load(path, map_location="cpu", weights_only=weights_only)
        if not isinstance(checkpoint, dict) or not accept(checkpoint):
            raise ValueError(why)
    return checkpoint


def read_run_state(path, what: str, fix: str, fields=("meta", "state_dict", "optimiser", "history")) -> dict:
    """The state a resumable training run left in ``path`` (a :func:`save_checkpoint` dict with
    ``fields``); a damaged or foreign file fails as :func:`reading` says, naming ``what`` and ``fix``."""
    return read_checkpoint_dict(path, what, fix, lambda state: set(fields) <= set(state), "fields missing")


def resume_training(
    out: Path, meta: dict, what: str, fix: str, free, data: tuple[str, str], policy, optimiser, defaults=None
) -> dict | None:
    """Resume a policy trainer (imitation, REINFORCE) that stopped part-way: the state it left in
    ``out/last.pt``, ``policy`` and ``optimiser`` loaded from it, or None for a fresh run. The saved
    run must have had ``meta``'s arguments but for ``free`` (:func:`~graspbench.options.check_resume`,
    with ``defaults``) and read the same input: ``data`` is what it is and its fingerprint's key in
    ``meta``. ``what`` and ``fix`` name the state file when it is damaged."""
    last = out / "last.pt"
    if not last.exists():
        return None
    state = read_run_state(last, what, fix)
    name, key = data
    check_resume(
        state["meta"]["args"],
        meta["args"],
        f"--out {out}",
        free,
        defaults,
        inputs=((name, state["meta"][key], meta[key]),),
    )
    policy.load_state_dict(state["state_dict"])
    optimiser.load_state_dict(state["optimiser"])
    return state


def write_description(path, description: dict, same, read=None) -> None:
    """A collection's description (its dataset.json) written as JSON, never half-written. A run
    that resumes a collection must agree with the description already there on every key of
    ``same``, or the collection would mix two kinds of items: a ValueError says which differs.
    ``read(path)`` reads the existing one (default: the plain JSON), e.g. to check its kind first.
    The one check of the scene datasets and the collections of probed picks."""
    path = Path(path)
    if path.exists():
        existing = read(path) if read is not None else json.loads(path.read_text())
        for key in same:
            if existing.get(key) != description.get(key):
                raise ValueError(
                    f"{path} was made with a different {key}; use a new --out folder or the same arguments to resume"
                )
    write_atomic(path, json.dumps(description, indent=1, sort_keys=True))


def write_npz(path, arrays: dict) -> None:
    """Arrays into a compressed npz, never half-written."""
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


# --- files that say whether they are whole: a checksum written after them ----------------------

CHECKSUM_SUFFIX = ".sha256"


def checksum_path(path) -> Path:
    """Where the row count and checksum of ``path`` are kept: beside it, written after it."""
    path = Path(path)
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def _rows_and_digest(data: bytes) -> str:
    lines = data.count(b"\n")
    return f"{lines} lines {hashlib.sha256(data).hexdigest()}"


def write_checked(path, text: str) -> None:
    """``text`` to ``path`` (atomically), then its line count (the rows, with the header) and SHA-256 to ``checksum_path(path)``:
    a file whose checksum is missing or differs was not finished or was damaged since."""
    data = text.encode()
    write_atomic(path, data)
    write_atomic(checksum_path(path), _rows_and_digest(data) + "\n")


def damage(path) -> str | None:
    """Why a file written by :func:`write_checked` cannot be trusted (None: it is whole)."""
    path, record = Path(path), checksum_path(path)
    if not path.is_file():
        return "missing"
    if not record.is_file():
        return "no checksum beside it: its writing was interrupted or an older graspbench wrote it"
    expected = record.read_text().strip()
    found = _rows_and_digest(path.read_bytes())
    if found != expected:
        written, now = expected.split(" ")[0], found.split(" ")[0]
        return f"{now} lines where {written} were written" if now != written else "its checksum differs"
    return None


def zip_damage(path) -> str | None:
    """Why an npz (a zip: every member's CRC-32 and a directory written last) is not whole; None if it is."""
    if not Path(path).is_file():
        return "missing"
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except Exception as error:  # truncated, not a zip, unreadable
        return _reason(error)
    return f"member {bad} fails its CRC" if bad else None


def remove_damaged(path, reason: str | None, what: str) -> bool:
    """Whether ``path`` can be reused: when ``reason`` says it is damaged, say so in one line,
    delete it (and its checksum) and return False, so that it is made again."""
    path = Path(path)
    if reason is None:
        return True
    if reason != "missing":
        print(f"{path} is damaged ({reason}); redoing this {what}", file=sys.stderr)
    for stale in (path, checksum_path(path)):
        stale.unlink(missing_ok=True)
    return False


# --- one run per output folder -------------------------------------------------------------------

LOCK_NAME = ".graspbench.lock"


class FolderBusyError(ValueError):
    """Another live graspbench run owns the output folder."""


_held: dict[Path, list] = {}  # folder -> [open lock file, depth]: re-entrant within one process


@contextmanager
def own_folder(folder, command: str = "graspbench"):
    """Hold ``folder`` for this run: a lock file naming this process' PID, taken before anything
    in the folder is read or deleted. Another live run's lock is refused with a FolderBusyError
    naming its PID; the lock of a run that died (the kernel drops its ``flock``) is taken over with
    a line saying so. Re-entrant within one process; released (and the file removed) at the end."""
    folder = Path(folder).resolve()
    if folder in _held:
        _held[folder][1] += 1
        try:
            yield folder
        finally:
            _held[folder][1] -= 1
        return
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    while True:
        handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().split()
            handle.close()
            pid = holder[0] if holder else "unknown"
            raise FolderBusyError(
                f"{folder} is in use by another graspbench run (PID {pid}: "
                f"{' '.join(holder[1:]) or 'a command'}); wait for it to end or choose another --out"
            ) from None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:  # its holder removed it as we opened it: take a fresh one
            same = False
        if same:
            break
        handle.close()
    handle.seek(0)
    previous = handle.read().split()
    if previous and previous[0] != str(os.getpid()):
        print(f"{folder}: taking over the lock of PID {previous[0]}, which is no longer running", file=sys.stderr)
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()} {command}\n")
    handle.flush()
    remove_temporaries(folder)  # what a killed run was writing: no other run can be writing it now
    _held[folder] = [handle, 1]
    try:
        yield folder
    finally:
        del _held[folder]
        path.unlink(missing_ok=True)  # while still locked: nobody can hold it in between
        handle.close()
        if created:  # a run that failed before writing anything leaves no folder behind
            with suppress(OSError):  # not empty (another run has just taken it): leave it
                folder.rmdir()


# The temporary names of write_atomic (".NAME." and 8 of tempfile's characters) and save_figure.
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}$|^\..+\.tmp\.[a-z]+$")


def remove_temporaries(folder) -> list[Path]:
    """Delete the half-written temporary files a killed run left in ``folder`` and its subfolders."""
    candidates = [
        *Path(folder).glob(".*"),
        *Path(folder).glob("*/.*"),
    ]  # its files and its folders' (attempts/, scenes/)
    removed = [p for p in candidates if p.is_file() and p.name != LOCK_NAME and _TEMPORARY.match(p.name)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def owns_out_folder(command: str, parameter: str = "out"):
    """Decorate a function that writes a resumable folder (its argument ``parameter``) so that it
    runs inside :func:`own_folder`."""

    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            folder = signature.bind(*args, **kwargs).arguments[parameter]
            with own_folder(folder, command):
                return fn(*args, **kwargs)

        return wrapper

    return decorate
