"""The code version of each experiment: a hash of only the code it measures with, so that an edit
elsewhere marks none of its stored rows stale.

``graspbench.code_version()`` hashes every measuring module of the package: an IVFP edit changed
it and marked every active-learning row stale (35 minutes of re-evaluation that changed nothing).
Here each experiment names its entry modules (:data:`EXPERIMENTS`); its version hashes the modules
they import, transitively (package ``__init__`` files included, :data:`NOT_MEASURING` left out).

**What is hashed: the code, not the files.** Each module is parsed, and every top-level statement
(a function, a class, a constant) is hashed with its imports and docstrings removed; the version
hashes the sorted multiset of those digests. So moving a definition to another file, moving a
file, renaming a package or changing where a module imports a name from changes nothing measured
and leaves the version as it was; changing a definition's code (or adding or removing one)
changes it. A renamed function changes it too (the name is part of the code).

**Rows older than this scheme, or from before a move that edited definitions without changing
behaviour**, are recognised through :data:`EQUIVALENT`: a stored version listed there for an
experiment counts as current as long as the experiment's version is the one it is listed with.
Any later edit to the measured code makes them stale again, as it should.

``python -m graspbench.versions`` prints every experiment's version (what to list in
:data:`EQUIVALENT` after a behaviour-unchanged refactor); ``python -m graspbench.versions active
OLD/graspbench`` first lists the definitions that differ from an older tree (``git archive``), to
check that a refactor changed nothing that measures.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import sys
from pathlib import Path

from . import NOT_MEASURING as PACKAGE_NOT_MEASURING
from . import __version__

PACKAGE = Path(__file__).parent

NOT_MEASURING = tuple(PACKAGE_NOT_MEASURING) + (
    "versions.py",
    "active/curves.py",
    "ivfp/cli.py",
    "bench/summary.py",  # these three were bench/report.py
    "bench/compare.py",
    "bench/plots.py",
    "cli/__init__.py",  # the package cli/ was cli.py
    "cli/__main__.py",
    "cli/common.py",
    "cli/bench.py",
    "cli/data.py",
    "cli/train.py",
    "cli/perf.py",
)
"""Modules (relative to the package) that only drive, report or plot, left out of every
experiment's version: the package's list and the modules added since it was written."""

EXPERIMENTS = {
    "active": ("active.loop", "active.training", "active.pool", "active.strategies", "active.networks"),
    "ivfp": (
        "ivfp.demonstrator",
        "ivfp.classifier",
        "ivfp.imitation",
        "ivfp.reinforce",
        "ivfp.reinforce_run",
        "ivfp.bandit",
        "ivfp.agents",
        "ivfp.vitl",
        "ivfp.table1",
        "ivfp.table2",
        "ivfp.table3",
    ),
}
"""Each experiment's entry modules (relative to the package): the experiment measures with these
and with everything they import from graspbench."""

EQUIVALENT = {
    # The active-learning rows of results/active_learning* (319 rounds, every one evaluated by
    # 0.1.0+8bca3ecf, the whole-package hash of commit eccb32f) were measured by code equal, in
    # every definition that evaluates a round, to the active experiment's code at this version:
    # issue 25's move changed only imports, where the curves and plots live, and which version a
    # row is stamped with (see docs/active_learning.md, "Code versions").
    "active": {"0.1.0+8bca3ecf": "0.1.0+active.ee6c5ba5"},
}
"""experiment -> {stored version: the experiment's version it is equivalent to}."""


def _module_path(name: str) -> Path | None:
    """The file of a graspbench module given relative to the package (``"ivfp.policy"``), or None."""
    base = PACKAGE.joinpath(*name.split(".")) if name else PACKAGE
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _parsed(path: Path, mtime_ns: int) -> tuple[frozenset, tuple[str, ...]]:
    """A module's graspbench imports and its definitions' digests, from one parse (cached by file and
    modification time: a process parses each file once)."""
    tree = ast.parse(path.read_text())
    imports = frozenset(_imports(path, tree)) if path.is_relative_to(PACKAGE) else frozenset()
    _strip(tree)
    digests = tuple(hashlib.sha256(ast.dump(node).encode()).hexdigest() for node in tree.body)
    return imports, digests


def _imports(path: Path, tree: ast.Module) -> set[str]:
    """The graspbench modules (relative names) a module imports anywhere in it, its parent packages
    included (importing a module runs their ``__init__``)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [
                alias.name.removeprefix("graspbench").lstrip(".")
                for alias in node.names
                if alias.name == "graspbench" or alias.name.startswith("graspbench.")
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                module = ".".join(anchor + ([node.module] if node.module else []))
            elif node.module and (node.module == "graspbench" or node.module.startswith("graspbench.")):
                module = node.module.removeprefix("graspbench").lstrip(".")
            else:
                continue
            targets = [module] + [f"{module}.{alias.name}".lstrip(".") for alias in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".") if target else []
            for k in range(len(parts) + 1):  # the module and every package above it
                if _module_path(".".join(parts[:k])) is not None:
                    found.add(".".join(parts[:k]))
    return found


def measured_modules(experiment: str) -> list[Path]:
    """The files an experiment measures with: its entry modules and everything they import from
    graspbench, transitively, minus :data:`NOT_MEASURING`."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"no experiment {experiment!r}; one of {', '.join(EXPERIMENTS)}")
    return modules_imported(EXPERIMENTS[experiment])


def modules_imported(entries) -> list[Path]:
    """The files of ``entries`` (modules relative to the package) and of everything they import from
    graspbench, transitively, minus :data:`NOT_MEASURING`."""
    todo, seen = ["", *entries], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_path(name)
        if path is not None:
            todo.extend(_parsed(path, path.stat().st_mtime_ns)[0] - seen)
    paths = {_module_path(name) for name in seen} - {None}
    return sorted(p for p in paths if p.relative_to(PACKAGE).as_posix() not in NOT_MEASURING)


def _strip(tree: ast.Module) -> None:
    """Imports and docstrings out, in place: neither changes what the code computes."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            statements = getattr(node, field, None)
            if not isinstance(statements, list) or not statements or not isinstance(statements[0], ast.stmt):
                continue
            if (
                isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and field == "body"
                and isinstance(statements[0], ast.Expr)
                and isinstance(statements[0].value, ast.Constant)
                and isinstance(statements[0].value.value, str)
            ):
                statements = statements[1:]
            setattr(node, field, [s for s in statements if not isinstance(s, (ast.Import, ast.ImportFrom))])


def definition_digests(path: Path) -> list[str]:
    """One digest per top-level statement of a module, imports and docstrings removed."""
    return list(_parsed(Path(path), Path(path).stat().st_mtime_ns)[1])


@functools.cache
def experiment_version(experiment: str) -> str:
    """``"0.1.0+active.1a2b3c4d"``: the package version and a hash of the code ``experiment``
    measures with (see the module's docstring), computed once per process, at its first call (about a
    second: commands call it as they start, so that it describes the code they run)."""
    return f"{__version__}+{experiment}.{code_hash(measured_modules(experiment))}"


def code_hash(paths) -> str:
    """A short hash of the definitions in ``paths`` (see the module's docstring: code, not files)."""
    digests = sorted(d for path in paths for d in definition_digests(path))
    return hashlib.sha256("".join(digests).encode()).hexdigest()[:8]


def is_current(experiment: str, stored: str | None) -> bool:
    """Whether a row stamped ``stored`` was measured by the code ``experiment`` runs now (or code
    recorded in :data:`EQUIVALENT` as equal to it)."""
    now = experiment_version(experiment)
    return stored == now or EQUIVALENT.get(experiment, {}).get(stored) == now


def changed_definitions(experiment: str, other_package) -> tuple[list[str], list[str]]:
    """The definitions ``experiment`` measures with that differ between another copy of the package
    (``other_package``, e.g. an older commit's ``graspbench/`` from ``git archive``) and this one:
    (only there, only here), each as ``file:name``. Empty lists: the same code, whatever moved."""

    def definitions(package: Path) -> dict[str, str]:
        global PACKAGE
        saved, PACKAGE = PACKAGE, package
        try:
            found = {}
            for path in measured_modules(experiment):
                tree = ast.parse(path.read_text())
                _strip(tree)
                for node, digest in zip(tree.body, definition_digests(path)):
                    label = getattr(node, "name", None) or ast.unparse(node).split("=")[0].strip()[:40]
                    found[digest] = f"{path.relative_to(package).as_posix()}:{label}"
            return found
        finally:
            PACKAGE = saved

    there, here = definitions(Path(other_package).resolve()), definitions(PACKAGE)
    return sorted(there[d] for d in set(there) - set(here)), sorted(here[d] for d in set(here) - set(there))


if __name__ == "__main__":
    if len(sys.argv) == 3:  # python -m graspbench.versions EXPERIMENT OTHER_PACKAGE_DIR
        gone, added = changed_definitions(sys.argv[1], sys.argv[2])
        print(f"only in {sys.argv[2]}: {gone}\nonly here: {added}")
    for _experiment in EXPERIMENTS:
        print(f"{_experiment}: {experiment_version(_experiment)} ({len(measured_modules(_experiment))} modules)")
