"""Write the bytecode of what Chamberlain imports, not of every file installed (run by `make install`).

`uv pip install --compile-bytecode` compiles every .py in site-packages: ~230 MB of .pyc, most of
it for modules nothing here imports (test suites, API types, dialects, backends, the installers).
Instead this imports every module of our packages and every module they import anywhere
(function-level imports included, found with ast), so Python writes the .pyc of that closure now
and the first command starts as fast as the next; anything else gets its .pyc on first use, as
Python always does. It writes them even under PYTHONDONTWRITEBYTECODE, which would otherwise
leave every start compiling in memory.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import sys
import warnings
from pathlib import Path

PACKAGES = ("agent", "tools", "connectors", "policies", "evals")


def imported_names(root: Path) -> tuple[set[str], set[str]]:
    """Our modules and every absolute module they import; and the names `from X import Y` takes
    from a module, any of which may be a submodule (``from onnxruntime import quantization``)."""
    names: set[str] = set()
    maybe_submodules: set[str] = set()
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            if not module.endswith("__main__"):  # importing it would run the CLI
                names.add(module.removesuffix(".__init__"))
            try:
                tree = ast.parse(path.read_bytes())
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module)
                    maybe_submodules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names, maybe_submodules - names


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()
    sys.dont_write_bytecode = False
    warnings.simplefilter("ignore")
    names, maybe_submodules = imported_names(root)
    skipped: list[str] = []
    for name in sorted(names):
        try:
            importlib.import_module(name)
        except Exception:  # optional backends (torch), other platforms: their .pyc comes on first use
            skipped.append(name)
    for name in sorted(maybe_submodules):
        parent, _, attr = name.rpartition(".")
        if parent in sys.modules and not hasattr(sys.modules[parent], attr):
            # Not a submodule after all (or, like above, not importable here): nothing to compile.
            with contextlib.suppress(Exception):
                importlib.import_module(name)
    missing = ", ".join(skipped) or "none"
    print(f"bytecode written for the {len(sys.modules)} modules Chamberlain imports (not importable here: {missing})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
