"""What the command's modules share: the check of an environment argument, and writing a table
or a measurement's figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..envs.spec import resolve_spec
from ..io import write_atomic


def write_csv(frame, path) -> None:
    write_atomic(Path(path), frame.to_csv(index=False))


def write_json(path, data) -> None:
    write_atomic(Path(path), json.dumps(data, indent=2))
    print(f"wrote {path}")


def env_argument(text: str) -> str:
    """An argparse type: a registered environment id or a spec file that reads."""
    try:
        resolve_spec(text)
    except ValueError as error:  # argparse shows only ArgumentTypeError's message
        raise argparse.ArgumentTypeError(str(error)) from None
    return text
