"""P1 cold start: what a new Functions worker pays to load and index this app.

Each sample is a new interpreter (as a cold worker is) that runs `import function_app` and
`app.get_functions()` (the indexing the worker does) and reports the time of those two steps.
Baseline, in the same run and interleaved with it: a bare app in a scratch folder that imports only
azure.functions and registers the same number of trivial functions with the same trigger kinds.
Target: median(app) / median(bare) <= 1.3 (median of 10 each).

Also printed (info): the whole process, interpreter start to exit, for both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PROBE = """
import json, sys, time
start = time.perf_counter()
import function_app
functions = function_app.app.get_functions()
elapsed = time.perf_counter() - start
kinds = []
for f in functions:
    bindings = [json.loads(b) if isinstance(b, str) else b for b in f.get_raw_bindings()]
    kinds.append(next(b["type"] for b in bindings if b["type"].endswith("Trigger")))
print(json.dumps({"seconds": elapsed, "kinds": kinds, "modules": len(sys.modules)}))
"""

# One trivial function per trigger kind the real app uses (bindings as literal as possible).
BARE_FUNCTIONS = {
    "queueTrigger": '@app.queue_trigger(arg_name="msg", queue_name="q{i}", connection="AzureWebJobsStorage")\n'
    "def f{i}(msg: func.QueueMessage) -> None:\n    pass\n",
    "httpTrigger": '@app.route(route="r{i}", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)\n'
    'def f{i}(req: func.HttpRequest) -> func.HttpResponse:\n    return func.HttpResponse("ok")\n',
    "eventGridTrigger": '@app.event_grid_trigger(arg_name="event")\n'
    "def f{i}(event: func.EventGridEvent) -> None:\n    pass\n",
    "timerTrigger": '@app.timer_trigger(arg_name="timer", schedule="0 */5 * * * *")\n'
    "def f{i}(timer: func.TimerRequest) -> None:\n    pass\n",
}


def bare_app(folder: Path, kinds: list[str]) -> None:
    body = ["import azure.functions as func", "", "app = func.FunctionApp()", ""]
    body += [BARE_FUNCTIONS[kind].format(i=i) for i, kind in enumerate(kinds)]
    (folder / "function_app.py").write_text("\n".join(body))


def sample(cwd: Path) -> tuple[dict, float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"probe failed in {cwd}:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 samples each instead of 10")
    parser.add_argument("--samples", type=int)
    args = parser.parse_args(argv)
    samples = args.samples or (3 if args.quick else 10)

    first, _ = sample(common.ROOT)  # warms the OS file cache for both (not counted)
    kinds = first["kinds"]
    with tempfile.TemporaryDirectory(prefix="aibtrigger-p1-") as scratch:
        folder = Path(scratch)
        bare_app(folder, kinds)
        sample(folder)
        app_s, bare_s, app_wall, bare_wall = [], [], [], []
        for _ in range(samples):  # interleaved: a noisy moment hits both alike
            got, wall = sample(common.ROOT)
            app_s.append(got["seconds"]), app_wall.append(wall)
            got_bare, wall = sample(folder)
            bare_s.append(got_bare["seconds"]), bare_wall.append(wall)

    bytecode = "off (PYTHONDONTWRITEBYTECODE)" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "on"
    common.info(
        "P1",
        f"{len(kinds)} functions indexed ({', '.join(sorted(set(kinds)))}); modules loaded: "
        f"app {first['modules']}, bare {got_bare['modules']}; bytecode cache writing {bytecode}",
    )
    app_ms, bare_ms = common.median(app_s) * 1000, common.median(bare_s) * 1000
    common.ratio_figure(
        "P1",
        f"cold start, import + index (median of {samples})",
        app_ms,
        bare_ms,
        "bare azure.functions app, same functions",
        unit="ms",
        target_ratio=1.3,
        note=f"app min/max {min(app_s) * 1000:.0f}/{max(app_s) * 1000:.0f} ms",
    )
    common.figure(
        "P1",
        "whole process, interpreter start to exit (median)",
        common.median(app_wall) * 1000,
        "ms",
        baseline=common.median(bare_wall) * 1000,
        baseline_label="bare app",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
