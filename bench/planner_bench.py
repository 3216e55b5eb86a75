"""The planner benchmark's former name: P3 now lives in bench/p3_planner.py (same catalog, same figures,
plus its baseline). Kept so `python bench/planner_bench.py` still works."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from p3_planner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
