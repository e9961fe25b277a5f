"""The throughput report: measurements of `benchmark.costs.throughput` with the machine, commit and
command that made them, as JSON and as a markdown table with the profiles."""
from __future__ import annotations

import math
import os
from dataclasses import asdict

import pandas as pd
import torch

from ..execution.environment import device_description, git_commit, package_versions
from ..execution.numerics import numerics_state
from .profiling import StepProfile, profile_markdown
from .workbench import Measurement, Workbench


def memory_label(device: torch.device) -> str:
    if device.type == "cuda":
        return "torch.cuda.max_memory_allocated, reset per measurement"
    return "process peak RSS (getrusage ru_maxrss): cumulative over the run, not per measurement"


def build_report(bench: Workbench, measurements: list[Measurement], skipped: list[str], command: str,
                 load_before: tuple[float, ...] = ()) -> dict:
    return {
        "preset": bench.preset.name, "dataset": bench.dataset, "pair": bench.pair,
        "device": device_description(bench.device), "torch_threads": torch.get_num_threads(),
        "packages": package_versions(), "git_commit": git_commit(), "command": command,
        "warmup": bench.warmup, "repeats": bench.repeats, "data_free_precision": bench.data_free_precision,
        "peak_memory": memory_label(bench.device), "teacher": bench.teacher_info,
        "matmul_peak": [asdict(p) for p in bench.peaks], "numerics": numerics_state().as_dict(),
        "bandwidth": asdict(bench.bandwidth()) if bench.peaks else None,
        "measurements": [asdict(m) for m in measurements], "skipped_methods": skipped,
        # On a shared machine other processes' load slows every step: the 1-minute load average
        # before and after says whether the timings were taken on a busy machine.
        "load_average_1min": {"before": load_before[0] if load_before else None, "after": os.getloadavg()[0]},
    }


def _fmt(value, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def bandwidth_text(bandwidth: dict | None) -> str:
    if not bandwidth:
        return "-"
    return (f"{bandwidth['bytes_per_s'] / 1e9:,.1f} GB/s (copy of {bandwidth['megabytes']:.0f} MB, best of "
            f"{bandwidth['repeats']} after warm-up; median {bandwidth['median_ms']:.2f} ms)")


def markdown(report: dict) -> str:
    rows = [{
        "method": m["method"], "phase": m["phase"], "model": m["model"], "precision": m["precision"],
        "batch": m["batch"], "ms/step (median)": _fmt(m["ms_per_step_median"], ".2f"),
        "ms/step (min)": _fmt(m["ms_per_step_min"], ".2f"), "samples/s": _fmt(m["samples_per_s"], ",.1f"),
        "ms/sample": _fmt(m["ms_per_sample"], ".3f"),
        "sample-it/s": _fmt(m["sample_iterations_per_s"], ",.1f"),
        "GFLOP/step": _fmt(m["flops_per_step"] and m["flops_per_step"] / 1e9, ".3f"),
        "GFLOP/s": _fmt(m["achieved_flops_per_s"] and m["achieved_flops_per_s"] / 1e9, ".2f"),
        "% matmul peak": _fmt(m["fraction_of_matmul_peak"] and 100 * m["fraction_of_matmul_peak"], ".1f"),
        "MB/step": _fmt(m.get("bytes_per_step") and m["bytes_per_step"] / 1e6, ",.1f"),
        "% roofline": _fmt(m.get("fraction_of_roofline") and 100 * m["fraction_of_roofline"], ".1f"),
        "bound": m.get("bound") or "-",
        "peak MB": _fmt(m["peak_memory_mb"], ".0f"), "note": m["note"],
    } for m in report["measurements"]]
    teacher = report["teacher"] or {}
    teacher_line = ("-" if not teacher else
                    f"{teacher['arch']} ({'trained now' if teacher['trained_now'] else 'from the teacher cache'}, "
                    f"val {teacher['val_accuracy']:.1f}%)")
    peaks = "; ".join(f"{p['precision']}{' (TF32)' if p.get('tf32') else ''} {p['flops_per_s'] / 1e9:,.1f} GFLOP/s "
                      f"(torch.mm n={p['n']}, "
                      f"best of {p['repeats']} after warm-up; median {p['median_ms']:.2f} ms)"
                      for p in report["matmul_peak"])
    lines = [
        "# Throughput", "",
        f"- command: `{report['command']}`",
        f"- preset: {report['preset']}, dataset: {report['dataset']}, pair: {report['pair']}",
        f"- device: {report['device']} (torch threads: {report['torch_threads']})",
        f"- commit: {report['git_commit']}, torch {report['packages'].get('torch')}",
        f"- {report['warmup']} warm-up + {report['repeats']} timed repetitions per step; "
        f"data-free steps in {report['data_free_precision']}; teacher: {teacher_line}",
        f"- peak memory: {report['peak_memory']}; 1-min load average before/after: "
        f"{_fmt(report['load_average_1min']['before'], '.2f')}/{_fmt(report['load_average_1min']['after'], '.2f')}",
        f"- matrix-multiply peak: {peaks}",
        f"- memory bandwidth: {bandwidth_text(report.get('bandwidth'))}",
        "",
        pd.DataFrame(rows).to_markdown(index=False),
        "",
        "Synthesis is one optimisation step of the synthesizer (a batch takes `iterations` of them); "
        "sample-it/s counts teacher forward+backward per synthesized sample. FLOPs count matmuls and "
        "convolutions, forward and backward (torch's FlopCounterMode formulas); % matmul peak is achieved FLOP/s "
        "over the peak of the same precision (fp32 convolutions on CUDA may use TF32, so they can pass it). "
        "The input-grad row is the teacher's bare forward and backward to its input at the synthesis batch "
        "(frozen weights, no hooks, no losses): every synthesis step contains it, so its % of peak is the "
        "most a synthesis step of this teacher can reach at this batch on this device. "
        "Roofline: the least time a step can take here, max(FLOPs / matmul peak, bytes / copy bandwidth), with "
        "bytes as eager execution moves them (every operator reads its inputs and writes its outputs once; views "
        "move nothing); % roofline is that least time over the measured median, and `bound` names the larger "
        "term. It says how far a step is from what its operators allow on this device, which % of matmul peak "
        "cannot for a bandwidth-bound step.",
    ]
    if report["skipped_methods"]:
        lines += ["", f"Not measured (no known phases): {', '.join(report['skipped_methods'])}"]
    profiled = [m for m in report["measurements"] if m.get("profile")]
    if profiled:
        lines += ["", "## Profiles (torch.profiler, CPU self time of aten operators)", ""]
        for m in profiled:
            lines += profile_markdown(f"{m['method']} {m['phase']} (batch {m['batch']})", StepProfile.from_dict(m["profile"]))
    return "\n".join(lines) + "\n"
