"""Start-up cost: ``import lepton`` and ``lepton --help`` against an empty ``python -c pass``.

DESIGN.md §6 asks ``import lepton`` to add at most 0.15 s and ``lepton --help`` at most 0.4 s
to the start of a bare interpreter on the same machine, which only holds when heavy libraries
(torch, sklearn, lightgbm, ray, fastapi, sqlalchemy, pandas, numpy) load lazily. Each command
runs as a fresh subprocess, the three in turn so drift in the machine's speed hits all alike,
and the median wall time is reported with its overhead over ``python -c pass``. A last
subprocess reports which of those heavy modules ``import lepton`` (and ``lepton --help``) left
in ``sys.modules``, which names the culprit when the time goes over.

Usage: ``.venv/bin/python bench/startup.py [--repeat 15]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "startup.json"
HEAVY = ("torch", "sklearn", "lightgbm", "ray", "fastapi", "sqlalchemy", "pandas", "numpy")
TARGETS_S = {"import lepton": 0.15, "lepton --help": 0.4}  # overhead over `python -c pass`

_LOADED_AFTER_IMPORT = f"""
import json, sys
import lepton
print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))
"""

# runs the console script's entry point in-process; the report goes to stderr, after the help
_LOADED_AFTER_HELP = f"""
import json, sys
sys.argv = ["lepton", "--help"]
from lepton.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}), file=sys.stderr)
"""


def commands() -> dict[str, list[str]]:
    """The three commands, all from the venv of the interpreter running this script."""
    script = Path(sys.executable).parent / "lepton"
    if not script.is_file():
        raise SystemExit(
            f"No lepton console script next to {sys.executable}; pip install -e . first."
        )
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import lepton": [sys.executable, "-c", "import lepton"],
        "lepton --help": [str(script), "--help"],
    }


def wall_time(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def heavy_modules(code: str, env: dict[str, str], *, stream: str) -> dict[str, bool]:
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True
    )
    output = done.stdout if stream == "stdout" else done.stderr
    loaded: dict[str, bool] = json.loads(output.strip().splitlines()[-1])
    return loaded


def run_benchmark(repeat: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    env["COLUMNS"] = "100"  # the help text's width must not depend on the terminal
    runs = commands()
    for command in runs.values():  # warm the file cache and the .pyc files; not counted
        wall_time(command, env)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, command in runs.items():
            seconds[name].append(wall_time(command, env))
    medians = {name: statistics.median(times) for name, times in seconds.items()}
    baseline = medians["python -c pass"]
    overhead = {name: medians[name] - baseline for name in TARGETS_S}
    return {
        "benchmark": "startup",
        "date": dt.date.today().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "arch": platform.machine(),
            "system": platform.system(),
            "python": platform.python_version(),
        },
        "repeat": repeat,
        "seconds": seconds,
        "median_s": medians,
        "overhead_s": overhead,
        "targets_s": TARGETS_S,
        "pass": {name: overhead[name] <= target for name, target in TARGETS_S.items()},
        "heavy_modules_loaded": {
            "import lepton": heavy_modules(_LOADED_AFTER_IMPORT, env, stream="stdout"),
            "lepton --help": heavy_modules(_LOADED_AFTER_HELP, env, stream="stderr"),
        },
    }


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def verdict(ok: bool) -> str:
        return "[green]PASS[/green]" if ok else "[red]FAIL[/red]"

    console = Console()
    table = Table(
        title=f"Start-up time, median of {result['repeat']} runs",
        caption=(
            f"{result['machine']['cpus']} CPUs {result['machine']['arch']}, "
            f"Python {result['machine']['python']}"
        ),
    )
    for column in ("command", "median s", "overhead s", "target", "result"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for name, median in result["median_s"].items():
        if name in TARGETS_S:
            table.add_row(
                name,
                f"{median:.3f}",
                f"{result['overhead_s'][name]:+.3f}",
                f"<= {TARGETS_S[name]}",
                verdict(result["pass"][name]),
            )
        else:
            table.add_row(name, f"{median:.3f}", "", "", "")
    console.print(table)

    modules = Table(title="Heavy modules in sys.modules", min_width=60)
    modules.add_column("after")
    modules.add_column("loaded")
    for name, loaded in result["heavy_modules_loaded"].items():
        names = [m for m, present in loaded.items() if present]
        modules.add_row(name, ", ".join(names) if names else "[green]none[/green]")
    console.print(modules)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=15, help="runs of each; the median is reported"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}.")

    result = run_benchmark(args.repeat)
    print_table(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
