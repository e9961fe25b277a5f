"""What pooling the times of steps of equal work does to a stored calibration made before it (not a test): reprice
the cells of a committed quick start from its calibration's own per-pass times, once as they were and once pooled as
`plan --calibrate` pools them now (benchmark.costs.calibration.pooled_steps), against the cells' recorded seconds.
The same times and the same records, so the difference is the pooling alone, not another machine or another day.

    python tests/measurements/measure_pooled_prices.py --calibration results/quickstart-epyc/1e835d6/calibration.json \
        --out results/quickstart-epyc/1e835d6
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from benchmark.config.presets import PRESETS  # noqa: E402
from benchmark.costs.calibration import CellTimes, cell_times, price_cell, pooled_steps, work_keys  # noqa: E402
from benchmark.costs.workbench import Workbench  # noqa: E402
from benchmark.store.records import RunStore  # noqa: E402
from methods import METHODS  # noqa: E402
from methods.inversion.loop import DataFreeMethod  # noqa: E402


def repooled(cells: dict[str, CellTimes], keys: dict) -> dict[str, CellTimes]:
    """The cells' times as `calibrate` would make them from the same per-pass values with pooling (pooled_steps,
    then cell_times)."""
    samples = {(method, what): [p[what] for p in times.pass_seconds]
               for method, times in cells.items() for what in times.pass_seconds[0]}
    pooled, partners = pooled_steps(samples, keys)
    return {method: cell_times(method, {what: values for (name, what), values in pooled.items() if name == method},
                               len(times.pass_seconds), dict(train_clips=times.train_clips, val_clips=times.val_clips,
                                                             test_clips=times.test_clips), partners.get(method, {}))
            for method, times in cells.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", type=Path, required=True, help="a stored calibration (calibration.json)")
    parser.add_argument("--out", type=Path, required=True, help="the results folder of the run it priced")
    parser.add_argument("--preset", default="cpu")
    args = parser.parse_args()
    preset = PRESETS.get(args.preset)
    stored = json.loads(args.calibration.read_text())["cells"]
    by_cell: dict[tuple[str, str], dict[str, CellTimes]] = {}
    for key, value in stored.items():
        dataset, pair, method, _ = key.split("|")
        by_cell.setdefault((dataset, pair), {})[method] = CellTimes(**value)
    records = list(RunStore(args.out).latest_by_cell().values())
    print("| cell | seed | recorded s | predicted s, as calibrated | ratio | predicted s, pooled | ratio |")
    print("|---|---|---|---|---|---|---|")
    ratios: dict[str, list[float]] = {"as calibrated": [], "pooled": []}
    with tempfile.TemporaryDirectory() as cache:
        os.environ["DFKD_CACHE"] = cache  # the keys need the data's shapes; nothing is trained
        for (dataset, pair), cells in by_cell.items():
            teacher, student = pair.split(":")
            bench = Workbench(preset, dataset, pair, torch.device("cpu"), trained_teacher=False, count_work=False)
            pooled = repooled(cells, work_keys(bench, [m for m in cells if issubclass(
                METHODS.get(m).method_cls, DataFreeMethod)]))
            for r in sorted((r for r in records if (r.dataset, r.pair) == (dataset, pair)),
                            key=lambda r: (r.method, r.seed)):
                if r.method not in cells or not issubclass(METHODS.get(r.method).method_cls, DataFreeMethod):
                    continue
                before = price_cell(preset, dataset, teacher, student, r.method, cells[r.method]).seconds
                after = price_cell(preset, dataset, teacher, student, r.method, pooled[r.method]).seconds
                ratios["as calibrated"].append(before / r.wall_seconds)
                ratios["pooled"].append(after / r.wall_seconds)
                print(f"| {r.method} | {r.seed} | {r.wall_seconds:.1f} | {before:.1f} | {before / r.wall_seconds:.2f} | "
                      f"{after:.1f} | {after / r.wall_seconds:.2f} |")
    print()
    for label, values in ratios.items():
        within = sum(abs(v - 1) <= 0.2 for v in values)
        print(f"data-free cells {label}: {within} of {len(values)} within 20%, predicted/recorded "
              f"{min(values):.2f} to {max(values):.2f}")


if __name__ == "__main__":
    main()
