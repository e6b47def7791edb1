"""The size of a fresh `make install` (issue #20: `.venv` ≤ 1 GB with the test tools).

    python benchmarks/install_size_bench.py            # builds a fresh venv with `make install VENV=<tmp>` (~1 min)
    python benchmarks/install_size_bench.py --venv .venv
    python benchmarks/install_size_bench.py --quick    # measures the running venv only (CI smoke)

Sizes are disk usage (allocated blocks, hard links counted once), in MiB, like ``du -sm``. The
baseline is the same venv if every installed file had bytecode (what ``--compile-bytecode`` writes),
estimated from the .py files that have none yet at the ratio of those that do. ``--json``: the table
goes to stderr and the rows for ``make bench`` to stdout. A venv layered on another one (a .pth
file, as in the development worktrees) counts only its own files: measure a fresh one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _rows import Row, emit

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def disk_usage(root: Path) -> tuple[int, int, int, int]:
    """(all bytes, .pyc bytes, .py bytes with a .pyc, .py bytes without one), allocated on disk."""
    seen: set[tuple[int, int]] = set()
    total = pyc = py_compiled = py_bare = 0
    for dirpath, _dirs, files in os.walk(root):
        pycache = Path(dirpath) / "__pycache__"
        compiled = {p.name.split(".", 1)[0] for p in pycache.glob("*.pyc")} if pycache.is_dir() else set()
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            size = st.st_blocks * 512
            total += size
            if name.endswith(".pyc"):
                pyc += size
            elif name.endswith(".py"):
                if name[:-3] in compiled:
                    py_compiled += size
                else:
                    py_bare += size
    return total, pyc, py_compiled, py_bare


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, help="measure this venv instead of building a fresh one")
    ap.add_argument("--quick", action="store_true", help="measure the running venv (no install)")
    ap.add_argument("--json", action="store_true", help="rows for make bench on stdout (the table on stderr)")
    args = ap.parse_args()
    out = sys.stderr if args.json else sys.stdout

    with tempfile.TemporaryDirectory(prefix="chamberlain-venv-") as tmp:
        if args.venv:
            venv, label = args.venv.resolve(), str(args.venv)
        elif args.quick:
            venv, label = Path(sys.prefix), "the running venv"
        else:
            venv, label = Path(tmp) / "venv", "a fresh `make install`"
            print(f"building {label} in {venv} …", file=out, flush=True)
            subprocess.run(["make", "-s", "install", f"VENV={venv}"], cwd=ROOT, check=True, stdout=out)
        total, pyc, py_compiled, py_bare = disk_usage(venv)
        sp_total = disk_usage(site_packages(venv))[0]

    # What --compile-bytecode would add: the bare .py files at the .pyc/.py ratio measured here.
    ratio = pyc / py_compiled if py_compiled else 1.0
    all_bytecode = total + py_bare * ratio
    rows = [
        Row(
            f".venv on disk ({label})",
            "MiB",
            total / MIB,
            all_bytecode / MIB,
            "≤ 1024 MiB",
            total <= 1024 * MIB,
            "same, all bytecode",
        ),
        Row("site-packages on disk", "MiB", sp_total / MIB, None, "informational", None),
        Row("bytecode written", "MiB", pyc / MIB, (pyc + py_bare * ratio) / MIB, "informational", None, "all bytecode"),
    ]
    print(f"{'measure':<48} {'ours':>9} {'baseline':>9}  goal", file=out)
    for r in rows:
        base = "" if r.baseline is None else f"{r.baseline:9.0f}"
        print(f"{r.measure:<48} {r.ours:9.0f} {base:>9}  {r.goal}", file=out)
    if args.json:
        emit("install_size", rows)


if __name__ == "__main__":
    main()
