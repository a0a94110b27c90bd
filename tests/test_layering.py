"""Imports in bot/ run one way and never in a circle (see docs/architecture.md).

Read with the standard library's `ast` only: every `import` / `from … import` in every
module of bot/, at module level and inside functions (a lazy import is still a
dependency), except those under `if TYPE_CHECKING:` (annotations only, never executed).
Relative imports are resolved against the importing module's package.

Two rules, each failure listing every offender:
1. no import cycle between bot modules (strongly connected components, Tarjan);
2. no import from a lower layer into a higher one (`LAYERS` below).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "bot"

TOP = 7
# Module (or package) prefix -> layer; the longest matching prefix wins. A module may
# import its own layer and the layers below it, never above.
LAYERS = {
    # the entry points and the composition root: they may import anything
    "bot.app": TOP,
    "bot.cli": TOP,
    "bot.worker": TOP,
    "bot.sweeper": TOP,  # the worker's periodic pass over stored work
    "bot.delivery": TOP,  # the worker's outbox deliveries and the claim every job starts with
    "bot.child_worker": TOP,  # serve's worker, run as a supervised child process
    "bot.lifecycle": TOP,  # how serve and worker run their event loop and stop
    "bot.checkconfig": TOP,
    "bot.doctor": TOP,
    "bot.doctor_reach": TOP,  # the doctor's SMTP and SMS checks
    "bot.compose": TOP,
    # transports into the bot: HTTP handlers and the playground page
    "bot.handlers": 6,
    "bot.playground": 6,
    "bot.candidate_page": 6,  # the candidate page's guard, view and static files
    "bot.web_static": 6,  # static files only (the pages' shared chat.js)
    "bot.door": 6,  # the HTTP server's own limits (timeouts, connection cap)
    "bot.transports": 6,  # long connections: the webhooks' twins (verify, store, ack)
    # HR commands: the chat's twin of the ATS API, calling the same use cases; and the
    # route table that composes the command router with the flows
    "bot.commands": 6,
    "bot.flows.routes": 6,
    # use cases that drive the flows: the ATS API's storage work and the CSV importer
    # (which calls the same use cases row by row)
    "bot.usecases": 5,
    "bot.importer": 5,
    # conversations
    "bot.flows": 4,
    # services the flows build on
    "bot.services": 3,
    "bot.documents": 3,
    "bot.history": 3,
    "bot.history_text": 3,
    "bot.analytics": 3,
    "bot.understanding": 3,  # reading replies: the learned model, its corpus and training
    # the process's shared container: services and above use it; channels see it only
    # as a type (under TYPE_CHECKING). What is built into it lives in bot.compose.
    "bot.runtime": 3,
    # platform channels
    "bot.channels": 2,
    "bot.channels.platform": 2,  # what every platform client shares (tokens, errors, …)
    "bot.channels.addresses": 2,  # what an address says (kf customer, group), for everyone
    # storage, configuration and leaf utilities
    "bot": 1,  # the package itself
    "bot.storage": 1,
    "bot.storage.context": 1,  # Conversation.context, typed
    "bot.config": 1,
    "bot.i18n": 1,
    "bot.vocab": 1,
    "bot.problems": 1,
    "bot.metrics": 1,
    "bot.logs": 1,  # log format and the request id
    "bot.privacy": 1,
    "bot.queue": 1,
    "bot.embedded_redis": 1,  # the embedded server the queue may run on
    "bot.api_schemas": 1,  # request models: config and vocab only
    "bot.api_fields": 1,  # the field types those models share
}

Graph = dict[str, set[str]]


# -- reading the imports ----------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def bot_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _Imports(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[tuple[int, int, str | None, list[str]]] = []

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:  # the `else:` of TYPE_CHECKING does run
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((node.lineno, 0, alias.name, []))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        names = [alias.name for alias in node.names]
        self.found.append((node.lineno, node.level, node.module, names))


def imports_of(name: str, path: Path, known: Iterable[str]) -> set[str]:
    """The bot modules `name` imports (a `from pkg import sub` names the submodule)."""
    known = set(known)
    is_package = path.name == "__init__.py"
    visitor = _Imports()
    visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    targets: set[str] = set()
    for _, level, module, names in visitor.found:
        if level:  # relative: from the module's package, one level up per extra dot
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[: len(base) - (level - 1)]
            module = ".".join([*base, *([module] if module else [])])
        if module is None or not (module == PACKAGE or module.startswith(PACKAGE + ".")):
            continue
        hits = {f"{module}.{n}" for n in names if f"{module}.{n}" in known}
        if len(hits) < len(names) or not names:  # something imported from the module itself
            hits.add(module)
        targets |= {t for t in hits if t in known and t != name}
    return targets


def module_graph() -> Graph:
    modules = bot_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


# -- the two rules (pure functions of a graph, checked on a made-up one below) -------------


def cycles(graph: Graph) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:  # recursion depth = longest import chain: small
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def placed_by(module: str, layers: dict[str, int] = LAYERS) -> str | None:
    """The longest prefix of `module` that `layers` names."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in layers:
            return prefix
    return None


def layer_of(module: str, layers: dict[str, int] = LAYERS) -> int | None:
    prefix = placed_by(module, layers)
    return None if prefix is None else layers[prefix]


def upward(graph: Graph, layer: Callable[[str], int | None]) -> list[str]:
    """Each import from a module into a higher layer, as "a (L) -> b (L)"."""
    bad = []
    for source in sorted(graph):
        for target in sorted(graph[source]):
            low, high = layer(source), layer(target)
            if low is not None and high is not None and high > low:
                bad.append(f"{source} ({low}) -> {target} ({high})")
    return bad


# -- the tests --------------------------------------------------------------------------


def test_every_module_has_a_layer():
    # only the package itself may fall back to the package's entry
    unplaced = [m for m in bot_modules() if placed_by(m) == PACKAGE and m != PACKAGE]
    assert not unplaced, f"add these to LAYERS: {unplaced}"


def test_no_import_cycles():
    found = cycles(module_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_upward_imports():
    found = upward(module_graph(), layer_of)
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_the_graph_is_read_as_python_reads_it():
    graph = module_graph()
    # a lazy import inside a function counts, TYPE_CHECKING ones do not
    assert "bot.app" in graph["bot.cli"]
    assert "bot.understanding.providers" in graph["bot.compose"]
    assert "bot.runtime" not in graph["bot.services.fx"]
    # `from bot.flows import alerts` is an import of the submodule
    assert "bot.flows.alerts" in graph["bot.flows.offer"]


def test_the_rules_catch_a_cycle_and_an_upward_import():
    graph = {
        "bot.channels.a": {"bot.flows.x"},  # upward, and part of a cycle
        "bot.flows.x": {"bot.flows.y"},
        "bot.flows.y": {"bot.channels.a", "bot.config"},
        "bot.config": set(),
        "bot.storage.m": {"bot.storage.n"},
        "bot.storage.n": {"bot.storage.m"},  # a same-layer cycle
    }
    assert cycles(graph) == [
        ["bot.channels.a", "bot.flows.x", "bot.flows.y"],
        ["bot.storage.m", "bot.storage.n"],
    ]
    assert upward(graph, layer_of) == ["bot.channels.a (2) -> bot.flows.x (4)"]


def test_relative_imports_are_resolved(tmp_path):
    pkg = tmp_path / "bot" / "flows"
    pkg.mkdir(parents=True)
    source = pkg / "x.py"
    source.write_text(
        "from . import y\nfrom ..channels import base\nfrom .y import thing\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.app import App\n"
        "def later():\n    import bot.worker\n"
    )
    known = {"bot.flows.y", "bot.channels.base", "bot.app", "bot.worker", "bot.flows"}
    assert imports_of("bot.flows.x", source, known) == {
        "bot.flows.y",
        "bot.channels.base",
        "bot.worker",
    }
