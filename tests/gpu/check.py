"""The one prepared GPU check. Run it when a GPU is lent, then commit results/gpu/ (what its first run gave:
benchmark/README.md, "Paper scale on one GPU: the plan before the spend, and synthesis with bounded memory"):

    python tests/gpu/check.py --out results/gpu          # about 8 minutes on one H100/H200
    python tests/gpu/check.py --dry-run                  # print what it would run (any machine)

It runs, in order, each step's output kept under OUT:
1. memory: for every data-free method and both paper pairs, one synthesis step and one KD step at the paper batch
   on 5 s synthetic audio (paper front end), torch.cuda.max_memory_allocated against the planner's count
   (`benchmark plan`, fp32 counts: an upper bound under bf16 autocast);
2. throughput: `benchmark throughput --preset paper` for ADI, CMI and FRAMI (bf16 autocast against the bf16 peak);
3. sweep: the paper preset at 2 rounds (5 synthesis steps each, a round's KD steps cut to 10) for every
   method, 1 seed, both pairs, on synthetic 5 s audio;
4. determinism: one FRAMI cell twice with --deterministic; its predictions must be equal;
5. calibrate: `plan --calibrate` on the GPU for the sweep's WRN cells of ADI, CMI, FRAMI and kd-noise, whose
   predicted seconds the report holds against the sweep's recorded ones;
6. packed: ADI and kd-noise, 2 seeds, with --cells-per-gpu 1 and then 2: the report gives cells per hour of each;
7. throughput-compiled: step 2 with the passes and KD losses compiled (data_free.compile=inductor): the report
   gives each step's ms and fraction of its roofline eager and compiled.
Steps 5 to 7 were added after the first run and have not run yet; they add an estimated 4-5 minutes.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SYNTH_5S = ["--set", "data.synth_clips_per_class=40", "--set", "data.synth_min_seconds=5",
            "--set", "data.synth_max_seconds=5", "--set", "supervised.epochs=2"]
# 5 synthesis steps: with 20, FRAMI's first WRN-40-2 round alone took about 50 s in the first run (H200), so the sweep would
# not fit the check's 8 minutes; the memory step already measures the paper batch, this sweep the code paths.
SHORT = ["--set", "data_free.rounds=2", "--set", "data_free.iterations=5", "--set", "adi.iterations=5",
         "--set", "data_free.kd_steps=10", "--set", "data_free.eval_every=1",
         # Fast's 20 warm-up rounds of the paper's 220 would leave no round to distil in 2: keep one, as cpu does
         "--set", "fast.warmup=1"]


def commands(out: Path) -> list[tuple[str, list[str]]]:
    py = [sys.executable]
    return [
        ("memory", py + [str(Path(__file__).with_name("memory_check.py")), "--out", str(out / "memory")]),
        *[(f"throughput{suffix}", py + ["-m", "benchmark", "throughput", "--preset", "paper", "--dataset", "synth",
                                        "--pair", "wrn40_2:wrn16_2", "--methods", "adi,cmi,frami", *SYNTH_5S,
                                        "--set", f"data_free.compile={mode}", "--out", str(out / f"throughput{suffix}")])
          for suffix, mode in (("", "off"), ("-compiled", "inductor"))],
        ("sweep", py + ["-m", "benchmark", "run", "--preset", "paper", "--datasets", "synth", "--methods", "all",
                        "--seeds", "1", *SYNTH_5S, *SHORT, "--out", str(out / "sweep")]),
        *[(f"determinism-{i}", py + ["-m", "benchmark", "run", "--preset", "paper", "--datasets", "synth",
                                     "--pairs", "wrn40_2:wrn16_2", "--methods", "frami", "--seeds", "1",
                                     "--deterministic", *SYNTH_5S, *SHORT, "--no-tables",
                                     "--out", str(out / f"determinism-{i}")]) for i in (1, 2)],
        ("calibrate", py + ["-m", "benchmark", "plan", "--preset", "paper", "--datasets", "synth",
                            "--pairs", "wrn40_2:wrn16_2", "--methods", "adi,cmi,frami,kd-noise", "--seeds", "1",
                            *SYNTH_5S, *SHORT, "--calibrate", "--device", "cuda", "--json", str(out / "plan.json")]),
        *[(f"packed-{n}", py + ["-m", "benchmark", "run", "--preset", "paper", "--datasets", "synth",
                                "--pairs", "wrn40_2:wrn16_2", "--methods", "adi,kd-noise", "--seeds", "2",
                                *SYNTH_5S, *SHORT, "--no-tables", "--cells-per-gpu", str(n),
                                "--out", str(out / f"packed-{n}")]) for n in (1, 2)],
    ]


def calibration_lines(out: Path) -> list[str]:
    """Each calibrated cell's predicted seconds against the sweep's record of it."""
    plan = {(c["pair"], c["method"]): c for c in json.loads((out / "plan.json").read_text())}
    lines = []
    for line in (out / "sweep" / "runs.jsonl").read_text().splitlines():
        record = json.loads(line)
        cell = plan.get((record["pair"], record["method"]))
        if cell and record.get("wall_seconds"):
            lines.append(f"  - {record['method']}: predicted {cell['predicted_seconds']:.1f} s "
                         f"({cell['predicted_from']}), recorded {record['wall_seconds']:.1f} s, ratio "
                         f"{cell['predicted_seconds'] / record['wall_seconds']:.2f}")
    return ["- calibrated plan against the sweep's cells:", *lines]


def compiled_lines(out: Path) -> list[str]:
    """Each synthesis and KD step eager against compiled: ms per step and the fraction of its roofline."""
    def rows(folder: str) -> dict:
        measured = json.loads((out / folder / "throughput.json").read_text())["measurements"]
        return {(m["method"], m["phase"]): m for m in measured if m["phase"] in ("synthesis", "distill")}

    eager, compiled = rows("throughput"), rows("throughput-compiled")
    lines = []
    for key, e in eager.items():
        c = compiled.get(key)
        if c:
            e_ms, c_ms = e["ms_per_step_median"], c["ms_per_step_median"]
            lines.append(f"  - {key[0]} {key[1]}: {e_ms:.1f} -> {c_ms:.1f} ms a step ({e_ms / c_ms:.2f}x), "
                         f"roofline {e.get('fraction_of_roofline')} -> {c.get('fraction_of_roofline')}")
    return ["- eager -> compiled steps (paper preset, WRN-40-2, bf16 autocast):", *lines]


def packed_lines(out: Path, seconds: dict[str, float]) -> list[str]:
    lines = []
    for n in (1, 2):
        path = out / f"packed-{n}" / "runs.jsonl"
        cells = len(path.read_text().splitlines()) if path.exists() else 0
        lines.append(f"  - {n} cell(s) per GPU: {cells} cells in {seconds[f'packed-{n}']:.0f} s, "
                     f"{3600 * cells / seconds[f'packed-{n}']:.0f} cells/hour")
    return ["- several cells per GPU (same cells, same GPU):", *lines]


def same_predictions(out: Path) -> bool:
    runs = [[json.loads(line) for line in (out / f"determinism-{i}" / "runs.jsonl").read_text().splitlines()]
            for i in (1, 2)]
    pick = [[r for r in run if r["method"] == "frami"][-1] for run in runs]
    return pick[0]["test_predictions"] == pick[1]["test_predictions"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=REPO / "results" / "gpu")
    p.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = p.parse_args()
    steps = commands(args.out)
    if args.dry_run:
        for name, command in steps:
            print(f"{name}: {shlex.join(command)}")
        return 0
    import torch
    if not torch.cuda.is_available():
        print("error: no CUDA GPU here; this check runs on a GPU (use --dry-run to see its commands)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [f"# GPU check ({torch.cuda.get_device_name(0)}, torch {torch.__version__})", ""]
    seconds = {}
    for name, command in steps:
        start = time.perf_counter()
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        seconds[name] = time.perf_counter() - start
        (args.out / f"{name}.log").write_text(done.stdout + done.stderr)
        lines.append(f"- {name}: exit {done.returncode} in {seconds[name]:.0f} s: `{shlex.join(command)}`")
    if all((args.out / f"determinism-{i}" / "runs.jsonl").exists() for i in (1, 2)):
        lines.append(f"- determinism: predictions equal across two runs: {same_predictions(args.out)}")
    if (args.out / "plan.json").exists() and (args.out / "sweep" / "runs.jsonl").exists():
        lines += calibration_lines(args.out)
    if all((args.out / folder / "throughput.json").exists() for folder in ("throughput", "throughput-compiled")):
        lines += compiled_lines(args.out)
    if all(f"packed-{n}" in seconds for n in (1, 2)):
        lines += packed_lines(args.out, seconds)
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
