"""Options written once: a dataclass field with its docstring is the option, its command-line flag
and the record of a run, and decides whether a run may resume.

An options dataclass documents each field with the string literal under it (as CleanRL does)::

    @dataclass
    class TrainArgs:
        epochs: int = 30
        \"\"\"passes over the training scenes\"\"\"

- :func:`add_options` adds a flag per field to an argparse parser (``--epochs``, type, default
  and help from the field and its docstring); :func:`options_from` builds the dataclass back
  from the parsed arguments. A field may refine its flag with ``metadata``: ``choices``, ``type``
  (a parser of the text, e.g. :func:`positive_int`), ``flag`` (another name for it); flags of
  options a preset supplies default to None (``preset_fields``);
  :func:`check_options` makes the same checks on options made in code.
- :func:`check_resume` decides whether a run folder holding a run made with some options may be
  resumed with others: the same but for the options allowed to change (more epochs), or refused
  with a message that names the first option that differs. :func:`fingerprint` is a short hash
  of options, for names of files that depend on them.

Commands in every room use these (train, ivfp, active), so this module sits at the bottom of the
package and imports nothing of it.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import inspect
import json
import textwrap
import types
import typing


def field_docs(cls) -> dict[str, str]:
    """The docstring of every field of a dataclass (the string literal under it), by name; fields
    of base classes included."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):  # defined where there is no source (an interactive session)
            continue
        body = ast.parse(source).body[0].body
        for statement, following in zip(body, body[1:]):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[statement.target.id] = " ".join(following.value.value.split())
    return docs


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of 0 or more (a count that may be none)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text}")
    return value


def flag_name(name: str) -> str:
    """The command-line flag of a field: ``labels_per_image`` -> ``--labels-per-image``."""
    return "--" + name.replace("_", "-")


def add_options(parser: argparse.ArgumentParser, cls, skip=(), required=(), types=None, preset_fields=()) -> None:
    """A flag per field of the options dataclass ``cls`` (but those in ``skip``), its help the
    field's docstring, its default the field's; those in ``required`` must be given.

    A bool that defaults to False is a switch (``--augment``), one that defaults to True a switch
    that turns it off (``--no-augment``). ``X | None`` takes X's type; ``tuple[X, ...]`` numbers
    separated by commas (``--keep 20,50``). A field of another type
    (a dict, a list) needs its own flag: put it in ``skip``. ``types`` gives a field's flag a type
    the dataclass's module cannot import (one defined in a higher layer), by field name.

    The flags of ``preset_fields`` default to None and their help says "default: the preset's":
    for options whose defaults come from a preset the user chooses, so that the caller can tell a
    flag left out (the preset's value) from one given.
    """
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    types = types or {}
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        help_text = docs.get(f.name, "")
        kind = _scalar(hints[f.name])
        if kind is bool:
            flag = f.metadata.get("flag") or (flag_name(f"no_{f.name}") if default else flag_name(f.name))
            help_text = f"turn off: {help_text}" if default and help_text else help_text
            parser.add_argument(
                flag,
                dest=f.name,
                action="store_false" if default else "store_true",
                default=None if f.name in preset_fields else default,
                help=help_text,
            )
            continue
        if typing.get_origin(kind) is tuple:  # numbers, comma-separated: --keep 20,50
            parser.add_argument(
                f.metadata.get("flag") or flag_name(f.name),
                dest=f.name,
                type=_numbers(typing.get_args(kind)[0], flag_name(f.name)),
                default=default,
                help=f"{help_text} (comma-separated; default: {','.join(map(str, default))})".replace("%", "%%"),
            )
            continue
        if kind not in (int, float, str):
            raise TypeError(f"{cls.__name__}.{f.name}: {hints[f.name]} has no flag of its own; skip it and add one")
        is_required, from_preset = f.name in required, f.name in preset_fields
        shown = "the preset's" if from_preset else None if is_required else default
        if shown is not None:
            help_text = f"{help_text} (default: {shown})" if help_text else f"default: {shown}"
        parser.add_argument(
            f.metadata.get("flag") or flag_name(f.name),
            dest=f.name,
            type=types.get(f.name) or f.metadata.get("type", kind),
            choices=f.metadata.get("choices"),
            default=None if is_required or from_preset else default,
            required=is_required,
            help=help_text.replace("%", "%%"),
        )


def check_options(options) -> None:
    """The checks a dataclass's flags make (``choices``, ``type=positive_int`` or
    ``non_negative_int`` in its fields' metadata), for options made in code; raises ValueError
    naming the flag."""
    for f in dataclasses.fields(options):
        value, flag = getattr(options, f.name), f.metadata.get("flag") or flag_name(f.name)
        if value is None:
            continue
        if "choices" in f.metadata and value not in f.metadata["choices"]:
            raise ValueError(f"{flag} {value!r} is not one of {tuple(f.metadata['choices'])}")
        if f.metadata.get("type") is positive_int and value < 1:
            raise ValueError(f"{flag} must be at least 1, got {value}")
        if f.metadata.get("type") is non_negative_int and value < 0:
            raise ValueError(f"{flag} must be 0 or more, got {value}")


def options_from(args: argparse.Namespace, cls, **values):
    """The options dataclass ``cls`` from parsed arguments (its fields that are there), with
    ``values`` for the others (or instead of them)."""
    names = {f.name for f in dataclasses.fields(cls)}
    parsed = {name: getattr(args, name) for name in names if hasattr(args, name)}
    return cls(**{**parsed, **values})


def _numbers(kind, flag: str):
    """An argparse type: numbers of ``kind`` separated by commas, as a tuple."""

    def convert(text: str) -> tuple:
        try:
            return tuple(kind(k) for k in text.split(",") if k.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} {text!r}: give numbers separated by commas, e.g. 20,50") from None

    return convert


def _scalar(hint):
    """The type a flag parses to: ``int | None`` -> int, ``bool`` -> bool, anything else as is."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        kinds = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return kinds[0] if len(kinds) == 1 else hint
    return hint


def fingerprint(options: dict, ignore=()) -> str:
    """A short hash of options (a dict, as ``dataclasses.asdict`` gives), but for ``ignore``."""
    kept = {key: value for key, value in options.items() if key not in ignore}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


def differing_options(saved: dict, current: dict, free=(), defaults: dict | None = None) -> list[str]:
    """Every option but those in ``free`` on which two runs disagree, as ``"name was X, now Y"``,
    sorted. An option the saved run does not record was added after it began: it ran with that
    option's value in ``defaults`` (the behaviour before the option existed), and without one there
    it counts as differing."""
    defaults, differing = defaults or {}, []
    for key in sorted(set(saved) | set(current)):
        if key in free:
            continue
        old, new = saved.get(key, defaults.get(key, _ABSENT)), current.get(key, _ABSENT)
        if old != new:
            was = repr(old) if key in saved else "not recorded" + (f", so {old!r}" if old is not _ABSENT else "")
            differing.append(f"{key} was {was}, now {'not given' if new is _ABSENT else repr(new)}")
    return differing


def check_resume(
    saved: dict,
    current: dict,
    where,
    free=(),
    defaults: dict | None = None,
    fix: str = "choose another --out",
    inputs: tuple[tuple[str, object, object], ...] = (),
) -> None:
    """May a run made with ``saved`` options go on with ``current`` ones? Yes when they agree on
    every option but those in ``free`` (e.g. ``epochs``: a run may be given more; see
    :func:`differing_options`) and on ``inputs``, (what, saved fingerprint, current fingerprint)
    of what the run reads (its data, its initial weights). Otherwise raises ValueError naming
    ``where`` (the run's folder), every difference with both values, and ``fix``."""
    reasons = differing_options(saved, current, free, defaults)
    reasons += [f"{what} differ" for what, before, now in inputs if before != now]
    if reasons:
        raise ValueError(
            f"{where} holds a run with other arguments or data: {'; '.join(reasons)}; {fix} (or the same arguments to resume)"
        )


_ABSENT = object()
