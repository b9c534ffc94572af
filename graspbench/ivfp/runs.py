"""One answer, for every IVFP run, to "is this the same run, may it resume?", and one checkpoint
writer.

Imitation (``imitation.train_policy``), REINFORCE (``reinforce.reinforce``) and the classifier
(``classifier.train_classifier``, reused when trained with the same arguments) all store the
arguments they ran with and a fingerprint of their inputs; a later command resumes (or reuses) the
run only when both agree, options that change no result aside (``free``: threads, progress bars,
how many iterations or epochs in all, where it runs). An option added since a run began is
compared at its default, so adding an option never orphans an old run. A refusal names every
option that differs, with its old and new value.

Issue 25 asks for one such helper for the whole package; this is the IVFP one, written before that
helper exists, with the same contract (fingerprint, resume or refuse naming the differing option),
so that the merge can replace it by the package's one.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from ..io import write_atomic


def save_checkpoint(path, payload: dict) -> None:
    """Write a checkpoint atomically (a temporary name, then a rename): an interruption never leaves
    half a file where a finished one was."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(Path(path), buffer.getvalue())


def differences(old: dict, new: dict, free=(), defaults: dict | None = None) -> list[str]:
    """The options that differ between two runs' arguments, as ``"name was X, now Y"``, sorted;
    ``free`` options are ignored, and an option missing from either side takes its ``defaults``
    value (an option added since the old run began)."""
    defaults = defaults or {}
    old, new = {**defaults, **old}, {**defaults, **new}
    return [f"{name} was {old.get(name)!r}, now {new.get(name)!r}" for name in sorted(set(old) | set(new))
            if name not in free and old.get(name) != new.get(name)]


def refuse_other_run(out, old: dict, new: dict, free=(), defaults: dict | None = None,
                     inputs: tuple[tuple[str, object, object], ...] = (),
                     fix: str = "choose another --out (or delete its last.pt to start over)") -> None:
    """Raise ValueError unless the run stored in ``out`` (arguments ``old``) may be resumed by one
    with arguments ``new``; ``inputs`` are (what, old fingerprint, new fingerprint) of what the run
    reads (its data, its initial policy), which must agree too."""
    reasons = differences(old, new, free, defaults)
    reasons += [f"{what} differ" for what, before, now in inputs if before != now]
    if reasons:
        raise ValueError(f"--out {out} holds a run with other arguments or inputs ({'; '.join(reasons)}); {fix}")
