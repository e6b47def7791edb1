"""Imports point one way (issue #13 item 3), checked on the source with ``ast``.

Layers, lowest first: ``policies`` and ``connectors`` → ``tools`` → ``agent``. ``evals`` runs the
assistant (any of agent/); of agent/ only the interfaces (``chamberlain evals``, the review page)
import it.
Inside ``agent``: the shared vocabulary (``agent/*.py``: settings, events, views, notify,
errors) → the core (``approvals``, ``graph``, ``models``, ``workflows``, ``observability``) →
wiring (``runtime``) → the service API (``service``) → the interfaces (``interfaces``: cli,
http, slack, the outbox worker) and the fakes that ship for tests. A module may import its own
layer or lower ones, never higher; every import counts, the ones inside functions and
``TYPE_CHECKING`` blocks too (a lazy import is still a dependency). No import circle anywhere,
lazy imports included (the CLI app and the demo were one: both sides imported inside
functions); only ``TYPE_CHECKING`` imports, which never run, may close a circle. The interfaces
call the service API: none imports the app database's stores, the outbox or the graph
(``INTERFACE_FORBIDDEN``), nor walks from the runtime to its stores (``store_reaches``).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "tools", "connectors", "policies", "evals")

#: Top-level packages, lowest first; a package may import those at or below its rank.
TOP_RANK = {"policies": 0, "connectors": 0, "tools": 1, "agent": 2, "evals": 2}

#: Inside agent/, by module-name prefix (the longest match wins), lowest first.
AGENT_RANK = {
    "agent": 0,  # agent/*.py: settings, events, views, notify, errors
    "agent.approvals": 1,
    "agent.graph": 1,
    "agent.models": 1,
    "agent.workflows": 1,
    "agent.observability": 1,
    "agent.runtime": 2,
    "agent.service": 3,  # the one API the interfaces call (agent/service/)
    "agent.interfaces": 4,
    "agent.fakes": 4,
    "agent.__main__": 5,
}

#: Interfaces are shells side by side: only the CLI (which starts the servers) reaches into the
#: others. Pairs (importer prefix, imported prefix) that are allowed across interfaces.
INTERFACE_EDGES = {
    ("agent.interfaces.cli", "agent.interfaces.http"),
    ("agent.interfaces.cli", "agent.interfaces.slack"),
    ("agent.interfaces.cli", "agent.interfaces.outbox_worker"),
    ("agent.interfaces.cli", "agent.interfaces.mcp"),
    ("agent.interfaces.outbox_worker", "agent.interfaces.slack"),
}


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules(root: Path = ROOT) -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                found[_module_name(root, path)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@cache
def imports(module: str, root: Path = ROOT) -> tuple[tuple[str, int, str], ...]:
    """(imported module, line, kind) for each of ours; kind: "top" (at import time), "lazy"
    (inside a function) or "typing" (in an ``if TYPE_CHECKING:`` block, never run)."""
    known = modules(root)
    path = known[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, top: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, child.lineno, top))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    target = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    target = child.module or ""
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    found.append((sub if sub in known else target, child.lineno, top))
            elif isinstance(child, ast.If) and _is_type_checking(child):
                visit(child, "typing")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, "lazy" if top == "top" else top)
            else:
                visit(child, top)

    visit(tree, "top")
    ours = dict.fromkeys((n, line, top) for n, line, top in found if n.split(".")[0] in TOP_RANK)
    return tuple(ours)


def _rank(module: str, table: dict[str, int]) -> tuple[str, int]:
    best = max((p for p in table if module == p or module.startswith(p + ".")), key=len)
    return best, table[best]


def _where(module: str, line: int) -> str:
    return f"{modules()[module].relative_to(ROOT)}:{line}"


def test_layers_never_import_upward() -> None:
    upward = []
    for module in modules():
        _, rank = _rank(module, TOP_RANK)
        for target, line, _top in imports(module):
            if target.split(".")[0] not in TOP_RANK:
                continue
            _, target_rank = _rank(target, TOP_RANK)
            if target_rank > rank:
                upward.append(f"{_where(module, line)}: {module} imports {target} (a higher layer)")
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_agent_layers_never_import_upward() -> None:
    upward = []
    for module in (m for m in modules() if m == "agent" or m.startswith("agent.")):
        prefix, rank = _rank(module, AGENT_RANK)
        for target, line, _top in imports(module):
            if not (target == "agent" or target.startswith("agent.")):
                continue
            target_prefix, target_rank = _rank(target, AGENT_RANK)
            if target_rank > rank:
                upward.append(f"{_where(module, line)}: {module} ({prefix}) imports {target} ({target_prefix})")
    assert not upward, "upward imports inside agent/:\n" + "\n".join(upward)


def _interface(module: str) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:3]) if module.startswith("agent.interfaces.") else None


def test_interfaces_are_side_by_side() -> None:
    crossing = []
    for module in modules():
        mine = _interface(module)
        if mine is None:
            continue
        for target, line, _top in imports(module):
            theirs = _interface(target)
            if theirs is not None and theirs != mine and (mine, theirs) not in INTERFACE_EDGES:
                crossing.append(f"{_where(module, line)}: {module} imports {target}")
    assert not crossing, "an interface reaches into another:\n" + "\n".join(crossing)


def test_nothing_below_the_interfaces_imports_the_fakes() -> None:
    found = []
    for module in modules():
        if module.startswith(("agent.interfaces", "agent.fakes", "agent.__main__", "evals")):
            continue
        for target, line, _top in imports(module):
            if target.startswith("agent.fakes"):
                found.append(f"{_where(module, line)}: {module} imports {target}")
    assert not found, "production code imports the fakes:\n" + "\n".join(found)


def import_cycles(root: Path = ROOT) -> list[list[str]]:
    """Strongly connected components (Tarjan) of the import graph (typing-only imports left out)."""
    known = modules(root)
    graph = {m: sorted({t for t, _l, k in imports(m, root) if k != "typing" and t in known and t != m}) for m in known}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
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
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            connect(v)
    return cycles


def test_no_import_circles() -> None:
    cycles = import_cycles()
    assert not cycles, "import circles:\n" + "\n".join(" ↔ ".join(c) for c in cycles)


def test_only_the_interfaces_import_the_evals() -> None:
    found = []
    for module in modules():
        if module.startswith(("agent.", "tools.", "connectors.", "policies.")) and not module.startswith(
            "agent.interfaces."
        ):
            for target, line, _top in imports(module):
                if target == "evals" or target.startswith("evals."):
                    found.append(f"{_where(module, line)}: {module} imports {target}")
    assert not found, "below the interfaces, nothing imports evals/:\n" + "\n".join(found)


#: What an interface may not reach into: it calls the service API (agent/service/) instead of
#: opening app-database stores, the outbox or the conversation graph itself.
INTERFACE_FORBIDDEN = ("connectors.appdb", "connectors.outbox", "agent.graph")

#: (importing module, imported prefix) → why it is allowed anyway. Keep this list short: a new
#: entry is a function missing from agent/service/.
INTERFACE_EXCEPTIONS: dict[tuple[str, str], str] = {}


def test_interfaces_call_the_service_api() -> None:
    found = []
    for module in modules():
        if not module.startswith("agent.interfaces"):
            continue
        for target, line, _top in imports(module):
            hit = next((p for p in INTERFACE_FORBIDDEN if target == p or target.startswith(p + ".")), None)
            if hit is not None and (module, hit) not in INTERFACE_EXCEPTIONS:
                found.append(f"{_where(module, line)}: {module} imports {target} (use agent.service)")
    assert not found, "interfaces reaching past the service API:\n" + "\n".join(found)
    stale = [k for k in INTERFACE_EXCEPTIONS if k[0] not in modules()]
    assert not stale, f"exceptions for modules that no longer exist: {stale}"


#: Reaches past the service API that an import check cannot see: an interface holding the runtime
#: (or a Service) and walking to its stores. Checked on attribute chains: the runtime's
#: approvals/audit stores and approval calls, any ``.engine``, ``.approvals.store`` and the name
#: ``ApprovalStore``. The service API's ``svc.audit`` (the audit log) is its documented way in.
RUNTIME_NAMES = {"rt", "runtime", "chamberlain"}
RUNTIME_REACHES = {"approvals", "audit", "get_approval", "pending_for", "decide", "retry", "decide_batch"}

#: (module, chain) → why it is allowed. A new entry is a function missing from agent/service/.
REACH_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("agent.interfaces.slack.notifier", "cards.engine"): (
        "SlackNotifier is handed the card store (CLI, worker, tests); it builds its approvals "
        "service on that store's database once, in __init__"
    ),
    ("agent.interfaces.slack.notifier", "svc.approvals.store"): (
        "agent.notify.NotificationChannel (below the service layer) re-reads the store itself"
    ),
    ("agent.interfaces.outbox_worker", "outbox.engine"): (
        "the worker's channels (notify) live on the outbox's own database, which the worker opened"
    ),
}


def _chain(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def store_reaches(path: Path) -> list[tuple[int, str]]:
    """(line, chain) of each reach into a store in ``path`` (see REACH_EXCEPTIONS)."""
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Name) and node.id == "ApprovalStore":
            found.add((node.lineno, node.id))
        if not isinstance(node, ast.Attribute):
            continue
        chain = _chain(node)
        if chain is None:
            continue
        parts = chain.split(".")
        owner = parts[-2] if len(parts) >= 2 else ""
        if (
            node.attr == "engine"
            or (node.attr == "store" and owner == "approvals")
            or (node.attr in RUNTIME_REACHES and owner in RUNTIME_NAMES)
            or node.attr == "ApprovalStore"
        ):
            found.add((node.lineno, chain))
    return sorted(found)


def test_interfaces_do_not_reach_into_stores() -> None:
    found = []
    for module, path in modules().items():
        if not module.startswith("agent.interfaces"):
            continue
        for line, chain in store_reaches(path):
            if (module, chain) not in REACH_EXCEPTIONS:
                found.append(f"{_where(module, line)}: {chain} (call agent.service instead)")
    assert not found, "interfaces reaching into stores past the service API:\n" + "\n".join(found)
    used = {(m, c) for m, p in modules().items() if m.startswith("agent.interfaces") for _l, c in store_reaches(p)}
    stale = [k for k in REACH_EXCEPTIONS if k not in used]
    assert not stale, f"exceptions no longer needed (delete them): {stale}"


def test_the_reach_check_sees_chains(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text(
        "def f(self, rt, svc):\n"
        "    self.rt.approvals.get('a')\n"
        "    rt.audit.append('x')\n"
        "    self.runtime.decide('a')\n"
        "    svc.approvals.store.list()\n"
        "    x = svc.engine\n"
        "    ApprovalStore(x)\n"
        "    svc.approvals.decide('a')\n"  # the service API: fine
        "    svc.audit.append('x')\n"  # the service's audit log: fine
        "    self.rt.ask('u', 'q')\n",  # a conversation, not a store: fine
        encoding="utf-8",
    )
    chains = {c for _l, c in store_reaches(src)}
    assert chains == {
        "self.rt.approvals",
        "rt.audit",
        "self.runtime.decide",
        "svc.approvals.store",
        "svc.engine",
        "ApprovalStore",
    }


def test_the_graph_sees_lazy_relative_and_circular_imports(tmp_path: Path) -> None:
    """The checks are only as good as the graph: build one with a circle, a relative import and a
    lazy upward import, and see each found."""
    pkg = tmp_path / "connectors" / "loop"
    pkg.mkdir(parents=True)
    (tmp_path / "connectors" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("from connectors.loop.a import x\n\n\ndef f():\n    import agent.settings\n")
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from connectors.loop import d\n"
    )
    (pkg / "d.py").write_text("def f():\n    from connectors.loop import e\n")
    (pkg / "e.py").write_text("from connectors.loop import c, d\n")
    assert import_cycles(tmp_path) == [
        ["connectors.loop.a", "connectors.loop.b"],
        ["connectors.loop.d", "connectors.loop.e"],
    ]
    assert ("agent.settings", 5, "lazy") in imports("connectors.loop.b", tmp_path)
    assert ("connectors.loop.d", 3, "typing") in imports("connectors.loop.c", tmp_path)
    assert _rank("agent.interfaces.cli.app", AGENT_RANK) == ("agent.interfaces", 4)
    assert _rank("agent.settings", AGENT_RANK) == ("agent", 0)
