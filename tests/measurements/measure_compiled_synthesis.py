"""What compiling a cell's steps (DataFreeConfig.compile) gives on this device, through the harness's own path (not a
test).

For each method: its synthesis step and its KD step measured as `benchmark throughput` measures them (the cells'
code, steady state, warm-up then timed calls; FLOPs and bytes counted eagerly, so eager and compiled are held against
the same roofline), once eager and once with `data_free.compile=inductor`, in one process, eager first. Printed per
step: median ms, fraction of the roofline, and the measurement's wall seconds; the compiled one's extra wall seconds
are about what compiling costs a cell once (its warm-up calls compile; the same calls eager take a step's time each).

    python tests/measurements/measure_compiled_synthesis.py [--preset cpu] [--methods adi,cmi,frami] [--repeats 10]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.config.customize import collect_changes, customized  # noqa: E402
from benchmark.config.presets import PRESETS  # noqa: E402
from benchmark.costs.throughput import measure_distill_step, measure_synthesis_step  # noqa: E402
from benchmark.costs.workbench import Workbench  # noqa: E402
from benchmark.execution.environment import cpu_model, git_commit  # noqa: E402
from methods.inversion.compiled import fresh_cache  # noqa: E402

PHASES = {"synthesis": measure_synthesis_step, "distill": measure_distill_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--methods", default="adi,cmi,frami")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls (compiling happens in the first)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for mode in ("off", "inductor"):
        preset = customized(PRESETS.get(args.preset), collect_changes(None, [f"data_free.compile={mode}"]))
        bench = Workbench(preset, warmup=args.warmup, repeats=args.repeats)
        for name in args.methods.split(","):
            for phase, measure in PHASES.items():
                fresh_cache()  # as a cell starts
                start = time.perf_counter()
                m = measure(name, bench)
                row = {"method": name, "phase": phase, "compile": mode, "median_ms": round(m.ms_per_step_median, 1),
                       "min_ms": round(m.ms_per_step_min, 1), "fraction_of_roofline": round(m.fraction_of_roofline, 4),
                       "bound": m.bound, "measurement_wall_s": round(time.perf_counter() - start, 1)}
                rows.append(row)
                print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    for name in args.methods.split(","):
        for phase in PHASES:
            eager, compiled = (next(r for r in rows if (r["method"], r["phase"], r["compile"]) == (name, phase, mode))
                               for mode in ("off", "inductor"))
            print(f"{name} {phase}: {eager['median_ms']} -> {compiled['median_ms']} ms "
                  f"({eager['median_ms'] / compiled['median_ms']:.2f}x), roofline {eager['fraction_of_roofline']:.1%} "
                  f"-> {compiled['fraction_of_roofline']:.1%}, compile about "
                  f"{compiled['measurement_wall_s'] - eager['measurement_wall_s']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"command": "python " + " ".join(sys.argv), "git_commit": git_commit(),
                                         "machine": cpu_model(), "threads": args.threads, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
