"""The package's layers: no import from a higher layer, no import cycle (read with ast, nothing run).

Data flows one way (DESIGN.md): spec -> scene -> observation -> agent -> grasp -> outcome ->
record -> report, and a lower room never imports a higher one.
"""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "graspbench"
LAYERS = [
    (
        "grasp",
        "io",
        "parallel",
        "outcomes",
        "options",
        "preflight",
    ),  # types, files, executors, vocabulary, options, checks
    ("versions",),  # what code a result was measured with: read from the package's files, imports no room
    ("sim", "clearance"),  # the simulator and the footprint geometry on the hand's dimensions
    ("envs",),
    ("data",),
    ("planners", "agents"),
    ("bench",),
    ("ivfp", "active"),
    ("cli",),
]
LAYER = {room: level for level, rooms in enumerate(LAYERS) for room in rooms}
KNOWN_CYCLES: set[str] = set()
"""cycles tolerated while they are being removed (none now: active/curves.py broke the last)"""


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The graspbench modules a file imports, anywhere in it (function bodies included)."""
    module = _module(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("graspbench")}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if not target.startswith("graspbench"):
                continue
            if node.module is None:  # from . import x: x may be a module
                found |= {f"{target}.{alias.name}" for alias in node.names}
            else:
                found.add(target)
    return found


def _room(module: str) -> str | None:
    """The room of a module (``graspbench.envs.base`` -> ``envs``); None for the package root."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for target in _imports(path):
            # `from .x import name` names a module or something in one: keep the longest module.
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def test_every_room_has_a_layer():
    rooms = {_room(_module(p)) for p in PACKAGE.rglob("*.py")} - {None}
    assert rooms <= set(LAYER), f"give these rooms a layer in LAYERS: {sorted(rooms - set(LAYER))}"


def test_no_module_imports_from_a_higher_layer():
    upward = []
    for module, targets in _graph().items():
        room = _room(module)
        if room is None:  # the package root: the public API, re-exported from below
            continue
        for target in targets:
            if _room(target) is not None and LAYER[_room(target)] > LAYER[room]:
                upward.append(f"{module} imports {target}")
    assert not upward, "imports from a higher layer:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    graph = _graph()
    graph.pop("graspbench")  # the root only re-exports; every module may read its constants
    for targets in graph.values():
        targets.discard("graspbench")
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(stack[stack.index(target) :] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    cycles = [cycle for cycle in cycles if cycle not in KNOWN_CYCLES]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)
