"""What the command line checks before a command starts any work, so that an ordinary mistake (a
negative seed, an ``--out`` that is a file where a folder is needed, a folder that cannot be
written) costs one line and no lost episodes; and what it says when Ctrl-C stops a command."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path

from .io import own_folder

# What --out names, per command (subcommands as "dataset show"). Commands not listed: a name with a
# file suffix is a file, anything else a folder.
OUT_KINDS = {
    "run": "file",
    "show": "file",
    "dataset show": "file",
    "ivfp summary": "file",
    "evaluate": "folder",
    "benchmark": "folder",
    "generate": "folder",
    "train": "folder",
    "analyze": "folder",
    "ivfp collect": "folder",
    "active-learn": "folder",
}
FILE_SUFFIXES = (".csv", ".json", ".png", ".md", ".npz", ".pt", ".yaml", ".txt")
# Commands whose --out is a folder a later run resumes: one run at a time owns it (io.own_folder).
RESUMABLE = ("benchmark", "generate", "train", "ivfp collect", "active-learn")
RESUME_HINTS = {
    "generate": "the finished scenes are kept in {out}; run the same command again to make the rest",
    "train": "the last checkpoint is kept in {out}; run the same command again to resume",
    "ivfp collect": "the finished bins are kept in {out}; run the same command again to collect the rest",
    "active-learn": "the finished rounds are kept in {out}; run the same command again to resume",
}


def command_name(args) -> str:
    """``run``, ``dataset show``, ``ivfp collect``: the command and its subcommand, if any."""
    sub = getattr(args, "what", None) or getattr(args, "ivfp_command", None)
    return f"{args.command} {sub}" if isinstance(sub, str) else args.command


def check_args(args) -> None:
    """Raise ValueError (one line naming the option) for a negative seed or an unusable output path."""
    for name, value in sorted(vars(args).items()):
        if (name == "seed" or name.endswith("_seed")) and isinstance(value, int) and value < 0:
            option = "--" + name.replace("_", "-")
            raise ValueError(f"{option} must be 0 or more (got {value}): seeds are counted up from it")
    command = command_name(args)
    out = getattr(args, "out", None)
    if isinstance(out, str) and out:
        kind = OUT_KINDS.get(command) or ("file" if Path(out).suffix.lower() in FILE_SUFFIXES else "folder")
        check_out(out, kind)
    json_path = getattr(args, "json", None)
    if isinstance(json_path, str) and json_path:
        check_out(json_path, "file", "--json")


def check_out(path, kind: str, option: str = "--out") -> None:
    """``path`` can be written as a ``kind`` ("file" or "folder"): not the other kind, inside a
    folder this process may write."""
    path = Path(path)
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ValueError(f"{option} {path} is a file; give a folder (a new or an earlier run's)")
    if kind == "file" and path.is_dir():
        raise ValueError(f"{option} {path} is a folder; give a file name")
    existing = path if kind == "folder" and path.exists() else path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{option} {path}: {existing} is a file, so no folder can be made there")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{option} {path}: {existing} is not writable by this user; give another folder")


def owning_output(args):
    """The context a command runs in: for a command with a resumable --out folder, holding it
    (:func:`graspbench.io.own_folder`), so that a second run into it is refused before it deletes
    or redoes anything."""
    command, out = command_name(args), getattr(args, "out", None)
    if command in RESUMABLE and isinstance(out, str) and out:
        return own_folder(out, command)
    return nullcontext()


def interrupted_line(args) -> str:
    """The one line a command stopped by Ctrl-C prints."""
    hint = RESUME_HINTS.get(command_name(args))
    out = getattr(args, "out", None)
    return f"interrupted: {hint.format(out=out)}" if hint and out else "interrupted"
