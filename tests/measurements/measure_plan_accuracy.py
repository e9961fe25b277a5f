"""How close a calibrated plan comes to the cells it priced (not a test): every cell's predicted seconds (from
`python -m benchmark plan --calibrate --json PLAN.json`, one seed's price) beside each of its records' wall seconds,
and the sweep's predicted total (data, teachers, cells) beside its wall clock.

    python -m benchmark plan --preset cpu --methods paper --calibrate --json /tmp/plan.json
    python -m benchmark run --preset cpu --methods paper --seeds 3 --out /tmp/qs      # prints "run finished in X min"
    python tests/measurements/measure_plan_accuracy.py --plan /tmp/plan.json --out /tmp/qs --wall-seconds 848
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.store.records import RunStore  # noqa: E402
from methods import METHODS  # noqa: E402
from methods.inversion.loop import DataFreeMethod  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, required=True, help="plan --calibrate --json output")
    parser.add_argument("--out", type=Path, required=True, help="the run's results folder")
    parser.add_argument("--wall-seconds", type=float, default=None, help="the run's wall clock (its summary line)")
    parser.add_argument("--predicted-total", type=float, default=None,
                        help="the plan's predicted total in seconds (its last line), for the sweep's comparison")
    args = parser.parse_args()
    plan = {(c["dataset"], c["pair"], c["method"]): c for c in json.loads(args.plan.read_text())}
    records = list(RunStore(args.out).latest_by_cell().values())
    print("| cell | seed | predicted s | recorded s | predicted / recorded | data-free |")
    print("|---|---|---|---|---|---|")
    worst, data_free_ratios = 0.0, []
    for r in sorted(records, key=lambda r: (r.method, r.seed)):
        cell = plan.get((r.dataset, r.pair, r.method))
        if cell is None or not r.wall_seconds:
            continue
        ratio = cell["predicted_seconds"] / r.wall_seconds
        data_free = issubclass(METHODS.get(r.method).method_cls, DataFreeMethod)
        if data_free:
            data_free_ratios.append(ratio)
            worst = max(worst, abs(ratio - 1))
        print(f"| {r.method} | {r.seed} | {cell['predicted_seconds']:.1f} | {r.wall_seconds:.1f} | {ratio:.2f} | "
              f"{'yes' if data_free else 'no'} |")
    if data_free_ratios:
        print(f"\ndata-free cells: {len(data_free_ratios)}, predicted/recorded {min(data_free_ratios):.2f} to "
              f"{max(data_free_ratios):.2f}; largest error {100 * worst:.1f}%")
    cells_predicted = sum(plan[(r.dataset, r.pair, r.method)]["predicted_seconds"] for r in records
                          if (r.dataset, r.pair, r.method) in plan)
    cells_recorded = sum(r.wall_seconds or 0 for r in records)
    print(f"cells: predicted {cells_predicted:.0f} s, recorded {cells_recorded:.0f} s "
          f"({cells_predicted / cells_recorded:.2f})")
    if args.wall_seconds and args.predicted_total:
        print(f"sweep: predicted {args.predicted_total:.0f} s, wall clock {args.wall_seconds:.0f} s "
              f"({args.predicted_total / args.wall_seconds:.2f})")


if __name__ == "__main__":
    main()
