"""`make bench`: run every tests/bench/bench_*.py module's main() in turn and print its figures.

Benchmarks measure, they never assert timings: the machines are shared and noisy, so each
reports ratios measured side by side in one run, plus peak memory.
  python -m tests.bench            # all
  python -m tests.bench ingest     # the modules whose name contains 'ingest'
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    chosen = [n for n in names if not argv or any(a in n for a in argv)]
    if not chosen:
        print(f"no benchmark matches {argv}; there are {names}", file=sys.stderr)
        return 2
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        importlib.import_module(f"tests.bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
