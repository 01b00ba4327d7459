"""The package's modules import each other in one direction: no circles, not
even through imports made inside a function (cli -> demo -> service, never back),
and the layers on disk hold: the shell (cli, service, http, demo) over cycle/,
over details/, over aws/ and warehouse/ (which never import each other), over
the base modules (settings, variables, logging, errors, models, windows)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import syncer

PACKAGE = Path(syncer.__file__).parent


def imported_names(path: Path) -> set[str]:
    """Every module a file imports (absolute imports), at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def imported_modules(path: Path) -> set[str]:
    return {name for name in imported_names(path) if name.startswith("syncer.")}


def module_graph() -> dict[str, set[str]]:
    modules = {
        "syncer." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts): p
        for p in PACKAGE.rglob("*.py")
    }
    modules = {name.removesuffix(".__init__"): p for name, p in modules.items()}
    return {name: imported_modules(path) & set(modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        trail.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*trail[trail.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        trail.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_imports_itself_through_others() -> None:
    cycle = find_cycle(module_graph())
    assert cycle is None, " -> ".join(cycle or [])


# Each module's layer, by its package; a module imports only its own layer and those below.
BASE, SOURCES, FEATURES, CYCLE, SHELL = range(5)
LAYERS = {
    "syncer.aws": SOURCES,
    "syncer.warehouse": SOURCES,
    "syncer.details": FEATURES,
    "syncer.deployments": FEATURES,
    "syncer.cycle": CYCLE,
    "syncer.events": CYCLE,  # applies rows as the change feed does, beside the loop
    "syncer.cli": SHELL,
    "syncer.service": SHELL,
    "syncer.http": SHELL,
    "syncer.demo": SHELL,
    "syncer.__main__": SHELL,
}
# Beside each other in one layer, and never importing each other.
APART = ("syncer.aws", "syncer.warehouse")


def package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def layer(module: str) -> int:
    return LAYERS.get(package(module), BASE)


def test_a_layer_never_imports_a_higher_one() -> None:
    upward = [
        f"{module} -> {imported}"
        for module, imports in module_graph().items()
        for imported in imports
        if layer(imported) > layer(module)
    ]
    assert not upward, upward


def test_the_sagemaker_side_and_the_warehouse_side_never_import_each_other() -> None:
    crossing = [
        f"{module} -> {imported}"
        for module, imports in module_graph().items()
        for imported in imports
        if package(module) in APART
        and package(imported) in APART
        and package(module) != package(imported)
    ]
    assert not crossing, crossing


def test_every_module_has_a_layer_that_the_test_knows() -> None:
    # A new subpackage must be placed in LAYERS; a new top-level module is base
    # only if it imports nothing above the base.
    top = {package(m) for m in module_graph() if m.count(".") >= 2}
    assert top <= set(LAYERS), top - set(LAYERS)


def test_the_demo_runs_the_service_entry_point_that_cli_runs() -> None:
    graph = module_graph()
    assert "syncer.service" in graph["syncer.cli"]
    assert "syncer.service" in graph["syncer.demo"]
    assert "syncer.cli" not in graph["syncer.demo"]


def test_nothing_outside_the_tests_imports_them() -> None:
    # The service, the stand-ins and the bench stand on their own: what they
    # share with the tests lives in standin/.
    root = PACKAGE.parent
    importers = [
        str(path.relative_to(root))
        for folder in ("syncer", "standin", "bench")
        for path in (root / folder).rglob("*.py")
        for name in imported_names(path)
        if name == "tests" or name.startswith("tests.")
    ]
    assert not importers, importers
    for shipped in ("Dockerfile", ".dockerignore", "deploy/compose.yaml"):
        text = (root / shipped).read_text(encoding="utf-8")
        assert "tests." not in text and "tests/" not in text, shipped


def test_every_package_is_one_the_wheel_ships() -> None:
    """A folder of modules is a package (its __init__.py) that pyproject.toml lists:
    the tests run from the tree, where a folder missing from the wheel still imports."""
    root = PACKAGE.parent
    shipped = set(
        tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    folders = {
        ".".join(path.parent.relative_to(root).parts)
        for path in PACKAGE.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert folders <= shipped, folders - shipped
    missing = [f for f in folders if not (root / f.replace(".", "/") / "__init__.py").exists()]
    assert not missing, missing


MODULE_LINES = 450  # a module one reads in a sitting
STORE_LINES = 300  # the store keeps the pool, transactions and listing pages only


def test_modules_stay_small_and_the_store_keeps_to_its_job() -> None:
    too_long = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
    }
    assert not too_long, too_long
    tree = ast.parse((PACKAGE / "warehouse" / "store.py").read_text(encoding="utf-8"))
    [store] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Store"]
    assert store.end_lineno is not None
    assert store.end_lineno - store.lineno + 1 < STORE_LINES
