#!/usr/bin/env python3
"""Move ``agent/`` modules into subpackages by what they are, and rewrite every reference to them.

Run at the root of a clean checkout (issue #13 item 1)::

    python scripts/restructure_agent.py --dry-run      # the plan; changes nothing
    python scripts/restructure_agent.py                # git mv + rewrite + ruff import sorting

Deterministic and idempotent: a second run finds nothing to move and rewrites nothing. The
layout is the table :data:`MOVES` below (old path → new path; a directory moves with every file
in it, new ones included, unless a file has its own row). Then every tracked text file is
rewritten: ``import``/``from`` statements (through the AST, relative ones included), dotted
names in strings and prose (``"agent.graph._x"`` in ``monkeypatch.setattr``, ``python -m
agent.cli``, ``agent.cli:main`` in pyproject), and paths (``agent/graph.py``, ``agent/slack/``)
in docs, Makefile, Dockerfile, CI scripts. :data:`TEXT_EDITS` are the few references no name
rewrite can see (``resources.files("agent")`` next to a moved data file).

Exit status: 0 done; 1 a path the table expects is missing, or a move target already exists
(nothing changed); 2 files under agent/ that no row maps (nothing changed; add rows, or pass
``--allow-unmapped`` to leave them in place — they are listed); 3 ruff failed afterwards.

It cannot split a module's contents (cli.py's groups, workflows.py's seams): that is source
editing, done by hand in a commit of its own.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

# -- the layout ------------------------------------------------------------------------------------

#: old path → new path. A row for a directory moves all of its files (those with their own row
#: go where that row says). Order does not matter; more specific rows win.
MOVES: dict[str, str] = {
    # The conversation graph: its nodes, the dependencies they receive, planning, provenance.
    "agent/graph.py": "agent/graph/conversation.py",
    "agent/deps.py": "agent/graph/deps.py",
    "agent/planner.py": "agent/graph/planner.py",
    "agent/provenance.py": "agent/graph/provenance.py",
    "agent/output_guard.py": "agent/graph/output_guard.py",
    "agent/step_writes.py": "agent/graph/step_writes.py",
    # Chat models: provider adapters, routing between them, the scripted model, prices and usage.
    "agent/model.py": "agent/models/chat.py",
    "agent/model_routing.py": "agent/models/routing.py",
    "agent/model_setup.py": "agent/models/setup.py",
    "agent/scripted_model.py": "agent/models/scripted.py",
    "agent/pricing.py": "agent/models/pricing.py",
    "agent/pricing.yaml": "agent/models/pricing.yaml",
    "agent/usage.py": "agent/models/usage.py",
    "agent/budgets.py": "agent/models/budgets.py",
    "agent/tokens.py": "agent/models/tokens.py",
    "agent/prompts": "agent/models/prompts",
    # Business workflows: request kinds and their follow-ups, scheduled reports, the sweep.
    "agent/workflows.py": "agent/workflows/service.py",
    "agent/reports.py": "agent/workflows/reports.py",
    "agent/sweeper.py": "agent/workflows/sweeper.py",
    # Traces and metrics.
    "agent/telemetry.py": "agent/observability/telemetry.py",
    "agent/metrics.py": "agent/observability/metrics.py",
    # Wiring: the runtime every interface calls, the services it opens, checkpoints, the store.
    "agent/runtime.py": "agent/runtime/chamberlain.py",
    "agent/services.py": "agent/runtime/services.py",
    "agent/checkpoints.py": "agent/runtime/checkpoints.py",
    # Interfaces: thin shells over the runtime. The CLI: one module per command group.
    "agent/cli.py": "agent/interfaces/cli/app.py",
    "agent/cli_render.py": "agent/interfaces/cli/render.py",
    "agent/cli_support.py": "agent/interfaces/cli/support.py",
    "agent/datadir.py": "agent/interfaces/cli/datadir.py",
    "agent/cli_docs.py": "agent/interfaces/cli/docs.py",
    "agent/cli_evals.py": "agent/interfaces/cli/evals.py",
    "agent/cli_models.py": "agent/interfaces/cli/models.py",
    "agent/cli_outbox.py": "agent/interfaces/cli/outbox.py",
    "agent/cli_reports.py": "agent/interfaces/cli/reports.py",
    "agent/cli_requests.py": "agent/interfaces/cli/requests.py",
    "agent/cli_sql.py": "agent/interfaces/cli/sql.py",
    "agent/cli_templates.py": "agent/interfaces/cli/templates.py",
    "agent/cli_tools.py": "agent/interfaces/cli/tools.py",
    "agent/cli_warehouse.py": "agent/interfaces/cli/warehouse.py",
    "agent/cli_web.py": "agent/interfaces/cli/web.py",
    "agent/cli_serve.py": "agent/interfaces/cli/serve.py",
    "agent/slack/cli.py": "agent/interfaces/cli/slack.py",
    "agent/demo.py": "agent/interfaces/cli/demo.py",
    "agent/demo_reports.py": "agent/interfaces/cli/demo_reports.py",
    # HTTP: the API, its report endpoints, the web page.
    "agent/http_api.py": "agent/interfaces/http/api.py",
    "agent/http_reports.py": "agent/interfaces/http/reports.py",
    "agent/http_batches.py": "agent/interfaces/http/batches.py",
    "agent/web": "agent/interfaces/http/web",
    # Slack: the Bolt app, cards, notifier. The outbox worker delivers to Slack (and email).
    "agent/slack": "agent/interfaces/slack",
    "agent/outbox_worker.py": "agent/interfaces/outbox_worker.py",
    # Fakes that ship for users' tests and the offline demo.
    "agent/slack/testing.py": "agent/fakes/slack_runtime.py",
}

#: Stays where it is: the shared vocabulary every layer of agent/ uses, and the fakes package.
KEEP: tuple[str, ...] = (
    "agent/__init__.py",
    "agent/approvals.py",
    "agent/batches.py",
    "agent/end_state.py",
    "agent/errors.py",
    "agent/events.py",
    "agent/notify.py",
    "agent/settings.py",
    "agent/views.py",
    "agent/fakes",
    "agent/service",  # the service API the interfaces call (added after the move)
)

#: New packages and what belongs in them (their ``__init__.py`` docstring; written if missing).
PACKAGES: dict[str, str] = {
    "agent/graph": "The conversation graph: state, gate and execute nodes, the dependencies they receive, "
    "planning, provenance.",
    "agent/models": "Chat models: provider adapters, routing between models, the scripted model, prices, "
    "token counts, usage and budgets.",
    "agent/workflows": "Business workflows: request kinds and their follow-ups, scheduled reports, the sweep "
    "that expires and reminds.",
    "agent/observability": "Traces (OpenTelemetry) and Prometheus metrics for the graph and the runtime.",
    "agent/runtime": "Wiring: the runtime every interface calls (ask, decide, resume), the services it "
    "opens, checkpoints.",
    "agent/interfaces": "Thin shells over the runtime: the command line, the HTTP API and web page, the "
    "Slack bot, the outbox worker.",
    "agent/interfaces/cli": "The ``chamberlain`` command line: the app (``app.py``) and one module per command group.",
    "agent/interfaces/http": "The HTTP API (``api.py``), its report endpoints and the web page (``web/``).",
}

#: Files the new layout adds besides package docstrings (written if missing).
NEW_FILES: dict[str, str] = {
    "agent/__main__.py": '"""``python -m agent``: the ``chamberlain`` command."""\n\n'
    "from agent.interfaces.cli.app import main\n\nmain()\n",
}

#: ``python -m agent.cli`` → ``python -m agent`` (``agent/__main__.py`` runs the app).
RUN_MODULES: dict[str, str] = {"agent.cli": "agent"}

#: (file in the new layout, old text, new text): references a name rewrite cannot see.
TEXT_EDITS: tuple[tuple[str, str, str], ...] = (
    # The CLI's how-to for new command groups names the modules by pattern.
    ("agent/interfaces/cli/app.py", "(``agent/cli_<name>.py``)", "(``agent/interfaces/cli/<name>.py``)"),
    ("agent/interfaces/cli/app.py", "fail with ``cli_support.fail``", "fail with ``support.fail``"),
    (
        # The checkout's root was two levels above the manifest; it is now three.
        "tests/agent/test_slack_cli.py",
        "root = MANIFEST.parents[2]",
        "root = Path(__file__).parents[2]",
    ),
    (
        "agent/models/chat/prompts.py",
        'resources.files("agent").joinpath("prompts")',
        'resources.files("agent.models").joinpath("prompts")',
    ),
    (
        "agent/models/pricing.py",
        'resources.files("agent").joinpath("pricing.yaml")',
        'resources.files("agent.models").joinpath("pricing.yaml")',
    ),
    (
        "agent/fakes/__init__.py",
        '"""Local fakes of outside services for tests and offline demos (no network)."""',
        '"""Local fakes of outside services, shipped for your tests and the offline demo (no network).\n\n'
        "A fake Anthropic Messages API (``anthropic_api``) and OpenAI-compatible server (``openai_api``)\n"
        "that the real SDKs talk to, the scripted wire that plays a demo through them\n"
        "(``scripted_wire``), and a scripted stand-in for the runtime behind the Slack app\n"
        '(``slack_runtime``). Nothing here runs in production."""',
    ),
)

#: (file, heading, source): the fenced block right after the heading gets the source file's text
#: (a drawing whose columns a path rewrite would skew). Done after the reference rewrite.
BLOCK_EDITS: tuple[tuple[str, str, str], ...] = (
    ("README.md", "## Architecture", "scripts/restructure_agent_sketch.txt"),
)

#: Text files rewritten: tracked files with these suffixes or names.
TEXT_SUFFIXES = (".py", ".md", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".txt", ".sh", ".json", ".mmd", ".html")
TEXT_NAMES = ("Makefile", "Dockerfile", ".dockerignore", "run")
# The script and its test name old modules on purpose.
SKIP_FILES = ("scripts/restructure_agent.py", "tests/test_restructure_script.py", "requirements.lock")

# -- plan --------------------------------------------------------------------------------------------


def module_of(path: str) -> str | None:
    """``agent/slack/app.py`` → ``agent.slack.app``; ``agent/slack/__init__.py`` → ``agent.slack``."""
    if not path.endswith(".py"):
        return None
    parts = path[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@dataclass
class Plan:
    tracked: list[str]
    file_moves: dict[str, str] = field(default_factory=dict)  # pending: old → new
    done: list[str] = field(default_factory=list)  # rows already applied
    module_map: dict[str, str] = field(default_factory=dict)  # every old module → new (pending or not)
    dir_map: dict[str, str] = field(default_factory=dict)  # old dir → new dir (paths in prose)
    path_map: dict[str, str] = field(default_factory=dict)  # old file path → new (paths in prose)
    problems: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)

    def final_path(self, path: str) -> str:
        return self.file_moves.get(path, path)

    def final_files(self) -> list[str]:
        news = {f"{p}/__init__.py" for p in PACKAGES} | set(NEW_FILES)
        return sorted({self.final_path(p) for p in self.tracked} | news)


def _row_for(path: str) -> tuple[str, str] | None:
    """The most specific MOVES row covering ``path``."""
    best: tuple[str, str] | None = None
    for old, new in MOVES.items():
        if (path == old or path.startswith(old + "/")) and (best is None or len(old) > len(best[0])):
            best = (old, new)
    return best


def _kept(path: str) -> bool:
    return any(path == k or path.startswith(k + "/") for k in KEEP)


def make_plan(root: Path) -> Plan:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    tracked = sorted(p for p in tracked if p and (root / p).exists())
    plan = Plan(tracked)
    present = set(tracked)
    # Every row's old → new mapping, whether still pending or already done (a re-run on a tree
    # that was restructured still needs the names, to rewrite references added since).
    for old, new in sorted(MOVES.items()):
        old_files = [p for p in tracked if p == old or p.startswith(old + "/")]
        new_files = [p for p in tracked if p == new or p.startswith(new + "/")]
        is_dir = not old.endswith((".py", ".yaml", ".md")) or bool(new_files and new_files[0] != new)
        if is_dir:
            plan.dir_map[old] = new
        else:
            plan.path_map[old] = new
        # A module moved here and split later is a package of the same name (chat.py → chat/).
        split = new.endswith(".py") and any(p.startswith(new[:-3] + "/") for p in tracked)
        if not old_files and not new_files and not split:
            plan.problems.append(f"missing: {old} (expected by the table; neither it nor {new} exists)")
            continue
        if not old_files:
            plan.done.append(old)
        for path in old_files:
            row = _row_for(path)
            assert row is not None
            if row[0] != old:
                continue  # a more specific row handles it
            target = new + path[len(old) :]
            if target in present:
                plan.problems.append(f"conflict: {path} → {target}, which already exists")
                continue
            plan.file_moves[path] = target
    # Module names: from pending moves, and for rows already done from the new side.
    for old_path, new_path in plan.file_moves.items():
        old_mod, new_mod = module_of(old_path), module_of(new_path)
        if old_mod and new_mod:
            plan.module_map[old_mod] = new_mod
    for old, new in MOVES.items():
        if old.endswith(".py"):
            plan.module_map.setdefault(module_of(old) or "", module_of(new) or "")
        elif "." not in old.rsplit("/", 1)[-1]:
            plan.module_map.setdefault(old.replace("/", "."), new.replace("/", "."))
            for path in tracked:  # a restructured tree: map the files now at the new side
                if path.startswith(new + "/") and path.endswith(".py"):
                    rel = path[len(new) :]
                    old_mod = module_of(old + rel)
                    if old_mod and old_mod not in plan.module_map and _row_for(old + rel) == (old, new):
                        plan.module_map[old_mod] = module_of(path) or ""
    plan.module_map.pop("", None)
    for path in tracked:
        if not path.startswith("agent/") or _kept(path) or _row_for(path) is not None:
            continue
        if path in NEW_FILES or any(path == p + "/__init__.py" for p in PACKAGES) or path in MOVES.values():
            continue
        if any(path.startswith(n + "/") for n in MOVES.values()):
            continue
        if any(n.endswith(".py") and path.startswith(n[:-3] + "/") for n in MOVES.values()):
            continue  # a moved module split since into a package of the same name
        if any(path.startswith(pkg + "/") for pkg in PACKAGES):
            continue  # born in the new layout (a package the restructure created has no old files)
        plan.unmapped.append(path)
    return plan


# -- rewriting references -------------------------------------------------------------------------------


class Resolver:
    """Maps an old dotted reference to its new one, leaving references already in the new layout."""

    def __init__(self, plan: Plan, final_files: Iterable[str], read: dict[str, str]) -> None:
        self.map = plan.module_map
        self.moved_now = set(plan.module_map) & {module_of(p) for p in plan.file_moves}
        self.modules = {m for p in final_files if (m := module_of(p))}
        self.packages = {module_of(p) for p in final_files if p.endswith("/__init__.py")}
        self.read = read  # final path → text, for package namespaces
        self._namespaces: dict[str, set[str]] = {}

    def namespace(self, package: str) -> set[str]:
        """Names a package defines: its submodules and its ``__init__``'s top-level names."""
        if package not in self._namespaces:
            names = {m[len(package) + 1 :].split(".")[0] for m in self.modules if m.startswith(package + ".")}
            text = self.read.get(package.replace(".", "/") + "/__init__.py", "")
            try:
                tree = ast.parse(text)
            except SyntaxError:
                tree = ast.Module(body=[], type_ignores=[])
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(node.name)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    names.update((a.asname or a.name).split(".")[0] for a in node.names)
                elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names.update(t.id for t in targets if isinstance(t, ast.Name))
            self._namespaces[package] = names
        return self._namespaces[package]

    def dotted(self, ref: str) -> str:
        parts = ref.split(".")
        old_k = max((k for k in range(1, len(parts) + 1) if ".".join(parts[:k]) in self.map), default=0)
        if not old_k:
            return ref
        cur_k = max((k for k in range(1, len(parts) + 1) if ".".join(parts[:k]) in self.modules), default=0)
        if cur_k > old_k:
            return ref  # already names a module of the new layout
        prefix = ".".join(parts[:old_k])
        if cur_k == old_k:
            # The old module's name is now a package (agent.graph): a name the package defines
            # is a new-layout reference; a bare name is old only while its move is this run's.
            if len(parts) > old_k and parts[old_k] in self.namespace(prefix):
                return ref
            if len(parts) == old_k and prefix not in self.moved_now:
                return ref
        return ".".join([self.map[prefix], *parts[old_k:]])

    def import_from(self, module: str, name: str) -> tuple[str, str]:
        """``from module import name`` → (new module, new name)."""
        full = f"{module}.{name}"
        if full in self.map and self.dotted(full) != full:
            new = self.map[full]
            parent, _, last = new.rpartition(".")
            return parent, last
        if module in self.map:
            rewritten = self.dotted(full)
            if rewritten != full:
                return rewritten.rpartition(".")[0], name
        return module, name


_DOTTED = re.compile(r"(?<![\w./-])agent(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_PATH = re.compile(r"(?<![\w./-])agent(?:/[A-Za-z0-9_.-]+)+/?")


def rewrite_path(ref: str, plan: Plan) -> str:
    trail = ""
    while ref.endswith(".") or ref.endswith(","):
        ref, trail = ref[:-1], ref[-1] + trail
    slash = ref.endswith("/")
    bare = ref.rstrip("/")
    if bare in plan.path_map:
        return plan.path_map[bare] + ("/" if slash else "") + trail
    row = _row_for(bare)
    if row is not None and row[0] in plan.dir_map:
        old, new = row
        if old in plan.path_map:
            return ref + trail
        return new + bare[len(old) :] + ("/" if slash else "") + trail
    return ref + trail


_SEGMENTS = re.compile(r"""(["'])agent\1(?:\s*/\s*(["'])[A-Za-z0-9_.-]+\2)+""")
_SEGMENT = re.compile(r"""(["'])([A-Za-z0-9_.-]+)\1""")


def rewrite_segments(match: re.Match[str], plan: Plan) -> str:
    """``"agent" / "slack" / "manifest.yaml"`` (pathlib) → ``"agent" / "interfaces" / "slack" / ...``."""
    source = match.group(0)
    before = match.string[: match.start()].rstrip()
    if before.endswith("/") and before[:-1].rstrip().endswith(("'", '"')):
        return source  # "tests" / "agent" / ...: not the package
    parts = [m.group(2) for m in _SEGMENT.finditer(source)]
    new = rewrite_path("/".join(parts), plan)
    if new == "/".join(parts):
        return source
    quote = match.group(1)
    return " / ".join(f"{quote}{part}{quote}" for part in new.split("/"))


def rewrite_text(text: str, resolver: Resolver, plan: Plan) -> str:
    text = _SEGMENTS.sub(lambda m: rewrite_segments(m, plan), text)
    for old, new in RUN_MODULES.items():
        run = re.compile(r"""((?:"-m",\s*"|'-m',\s*'|-m\s+))""" + re.escape(old) + r"(?![\w.])")
        text = run.sub(r"\g<1>" + new, text)
    text = _DOTTED.sub(lambda m: resolver.dotted(m.group(0)), text)
    return _PATH.sub(lambda m: rewrite_path(m.group(0), plan), text)


def _offsets(text: str) -> list[int]:
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _format_from(indent: str, level_prefix: str, module: str, names: list[str]) -> str:
    one = f"from {level_prefix}{module} import {', '.join(names)}"
    if len(indent) + len(one) <= 120:
        return one
    inner = "".join(f"{indent}    {n},\n" for n in names)
    return f"from {level_prefix}{module} import (\n{inner}{indent})"


def rewrite_python(text: str, path: str, old_path: str, resolver: Resolver, plan: Plan) -> str:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return rewrite_text(text, resolver, plan)
    starts = _offsets(text)
    spans: list[tuple[int, int, str]] = []
    old_pkg = (
        (module_of(old_path) or "").rsplit(".", 1)[0]
        if not old_path.endswith("__init__.py")
        else (module_of(old_path) or "")
    )
    new_pkg = (module_of(path) or "").rsplit(".", 1)[0] if not path.endswith("__init__.py") else (module_of(path) or "")
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        assert node.end_lineno is not None and node.end_col_offset is not None
        start = starts[node.lineno - 1] + node.col_offset
        end = starts[node.end_lineno - 1] + node.end_col_offset
        before = text[starts[node.lineno - 1] : start]
        indent = before if before.strip() == "" else ""
        spans.append((start, end, _rewrite_import(node, text[start:end], indent, path, old_pkg, new_pkg, resolver)))
    # Import statements through the AST; the text between them (strings, comments, docstrings,
    # attribute chains such as ``agent.fakes.anthropic_api.X``) through the name and path rewrite.
    out: list[str] = []
    pos = 0
    for start, end, replacement in sorted(spans):
        out.append(rewrite_text(text[pos:start], resolver, plan))
        out.append(replacement)
        pos = end
    out.append(rewrite_text(text[pos:], resolver, plan))
    return "".join(out)


def _rewrite_import(
    node: ast.Import | ast.ImportFrom,
    original: str,
    indent: str,
    path: str,
    old_pkg: str,
    new_pkg: str,
    resolver: Resolver,
) -> str:
    if isinstance(node, ast.Import):
        parts, changed = [], False
        for a in node.names:
            new = resolver.dotted(a.name)
            changed |= new != a.name
            parts.append(new + (f" as {a.asname}" if a.asname else ""))
        return "import " + ", ".join(parts) if changed else original
    if node.level:
        base = old_pkg.split(".")
        base = base[: len(base) - (node.level - 1)]
        module = ".".join([*base, *([node.module] if node.module else [])])
    else:
        module = node.module or ""
    if module != "agent" and not module.startswith("agent."):
        return original
    groups: dict[str, list[str]] = {}
    for a in node.names:
        target, name = resolver.import_from(module, a.name)
        asname = a.asname or (a.name if name != a.name else None)
        groups.setdefault(target, []).append(name + (f" as {asname}" if asname and asname != name else ""))
    if node.level:
        # A relative import stays when it still names the same module from the file's new place.
        new_base = new_pkg.split(".")
        new_base = new_base[: len(new_base) - (node.level - 1)]
        if list(groups) == [".".join([*new_base, *([node.module] if node.module else [])])]:
            return original
    elif list(groups) == [module]:
        return original
    return f"\n{indent}".join(_format_from(indent, "", target, names) for target, names in groups.items())


# -- main ----------------------------------------------------------------------------------------------


def replace_block(text: str, heading: str, block: str) -> str | None:
    """``text`` with the fenced block that follows the ``heading`` line holding ``block``."""
    match = re.search(r"^" + re.escape(heading) + r"\s*\n\s*```[^\n]*\n(.*?)^```", text, re.M | re.S)
    if match is None:
        return None
    return text[: match.start(1)] + block + text[match.end(1) :]


def _is_text(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return path not in SKIP_FILES and (name.endswith(TEXT_SUFFIXES) or name in TEXT_NAMES)


def run(root: Path, *, dry_run: bool, allow_unmapped: bool, use_ruff: bool) -> int:
    plan = make_plan(root)
    if plan.problems:
        for p in plan.problems:
            print(f"error: {p}")
        print("nothing changed: fix the table (MOVES) or the checkout, then run again")
        return 1
    if plan.unmapped:
        print("files under agent/ that no row of MOVES or KEEP covers:")
        for p in plan.unmapped:
            print(f"  {p}")
        if not allow_unmapped:
            print("nothing changed: add rows for them (or pass --allow-unmapped to leave them in place)")
            return 2
        print("(left in place: --allow-unmapped)")

    inverse = {new: old for old, new in plan.file_moves.items()}
    final_files = plan.final_files()
    read: dict[str, str] = {}
    for final in final_files:
        source = root / inverse.get(final, final)
        if _is_text(final) and source.exists():
            read[final] = source.read_text(encoding="utf-8")
    for pkg, doc in PACKAGES.items():
        read.setdefault(f"{pkg}/__init__.py", '"""' + "\n".join(textwrap.wrap(doc, 96)) + '"""\n')
    for path, text in NEW_FILES.items():
        read.setdefault(path, text)

    resolver = Resolver(plan, final_files, read)
    rewritten: dict[str, str] = {}
    for final, text in sorted(read.items()):
        old = inverse.get(final, final)
        new_text = (
            rewrite_python(text, final, old, resolver, plan)
            if final.endswith(".py")
            else rewrite_text(text, resolver, plan)
        )
        if new_text != text:
            rewritten[final] = new_text
    edits: list[str] = []
    for path, old_text, new_text in TEXT_EDITS:
        text = rewritten.get(path, read.get(path, ""))
        if old_text in text:
            rewritten[path] = text.replace(old_text, new_text)
            edits.append(path)
        elif new_text not in text:
            print(f"error: {path}: neither the old nor the new text of a TEXT_EDITS row is there: {old_text!r}")
            return 1

    for target, heading, drawing in BLOCK_EDITS:
        block = (root / drawing).read_text(encoding="utf-8")
        text = rewritten.get(target, read.get(target, ""))
        replaced = replace_block(text, heading, block)
        if replaced is None:
            print(f"error: {target}: no fenced block after {heading!r} (BLOCK_EDITS)")
            return 1
        if replaced != text:
            rewritten[target] = replaced
            edits.append(target)

    print(f"{len(plan.file_moves)} file(s) to move, {len(plan.done)} row(s) already done")
    for old, new in sorted(plan.file_moves.items()):
        print(f"  git mv {old} {new}")
    created = [f"{p}/__init__.py" for p in PACKAGES if not (root / p / "__init__.py").exists()]
    created += [p for p in NEW_FILES if not (root / p).exists()]
    for p in created:
        print(f"  new file {p}")
    print(f"{len(rewritten)} file(s) with references to rewrite")
    for p in sorted(rewritten):
        print(f"  rewrite {p}{' (text edit)' if p in edits else ''}")
    if dry_run:
        print("dry run: nothing changed")
        return 0

    for old, new in sorted(plan.file_moves.items()):
        (root / new).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "mv", old, new], cwd=root, check=True)
    for p in created:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_text(rewritten.pop(p, read[p]), encoding="utf-8")
        subprocess.run(["git", "add", p], cwd=root, check=True)
    for p, text in rewritten.items():
        (root / p).write_text(text, encoding="utf-8")
    # Directories the moves emptied (git mv leaves them, with __pycache__).
    for old in sorted(plan.dir_map, key=len, reverse=True):
        d = root / old
        if d.is_dir() and not any(f.is_file() and "__pycache__" not in f.parts for f in d.rglob("*")):
            shutil.rmtree(d)
    for old in plan.file_moves:
        stale = root / old
        parent = stale.parent
        for pyc in (parent / "__pycache__").glob(stale.stem + ".*.pyc") if old.endswith(".py") else ():
            pyc.unlink()

    status = 0
    py_files = sorted({p for p in [*rewritten, *created] if p.endswith(".py")})
    if use_ruff and py_files:
        ruff = _ruff(root)
        if ruff is None:
            print("warning: ruff not found; import blocks may need `ruff check --select I001 --fix`")
        else:
            # Only the files this run rewrote: the renamed imports sort anew, and lines that longer
            # names pushed over the limit are wrapped (the tree is ruff-formatted, so nothing else moves).
            result = subprocess.run([*ruff, "check", "--select", "I001", "--fix", "--quiet", *py_files], cwd=root)
            formatted = subprocess.run([*ruff, "format", "--quiet", *py_files], cwd=root)
            if result.returncode != 0 or formatted.returncode != 0:
                print("error: ruff could not sort or format the rewritten files (see above)")
                status = 3
    if plan.file_moves:
        print("done. The `chamberlain` console script names the CLI module: reinstall the package")
        print("(`uv pip install --no-deps -e .` or `pip install --no-deps --no-build-isolation -e .`).")
    else:
        print("done: nothing left to move")
    return status


def _ruff(root: Path) -> list[str] | None:
    for python in (root / ".venv/bin/python", Path(sys.executable)):
        if (
            python.exists()
            and subprocess.run([str(python), "-m", "ruff", "--version"], capture_output=True).returncode == 0
        ):
            return [str(python), "-m", "ruff"]
    exe = shutil.which("ruff")
    return [exe] if exe else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    parser.add_argument("--allow-unmapped", action="store_true", help="leave unmapped agent/ files in place")
    parser.add_argument("--no-ruff", action="store_true", help="do not sort the rewritten import blocks")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the checkout (default: the current dir)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not (root / "agent").is_dir() or not (root / "pyproject.toml").is_file():
        print(f"error: {root} is not the root of a Chamberlain checkout (no agent/ or pyproject.toml)")
        return 1
    return run(root, dry_run=args.dry_run, allow_unmapped=args.allow_unmapped, use_ruff=not args.no_ruff)


if __name__ == "__main__":
    sys.exit(main())
