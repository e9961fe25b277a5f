"""`python -m benchmark samples`: look at and listen to what a data-free method synthesizes
(the paper's Figure 3): a PNG grid of log-mels with the teacher's labels, and WAV files made
by mel inversion (torchaudio InverseMelScale + Griffin-Lim)."""
from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf
import torch

from methods import METHODS, SynthesizedSamples, build_method, method_config
from methods.inversion.diagnostics import pool_diagnostics
from methods.inversion.loop import DataFreeMethod

from ..checkpoints.teachers import TeacherCache
from ..config.cells import Cell
from ..data.base import add_bad_file_argument, apply_bad_file_choice
from ..execution.cell import make_context
from ..execution.environment import resolve_device
from ..execution.grid import SweepSpec, parse_pairs
from ..execution.loading import DataProvider
from ..reporting.rendering import label_samples, mel_to_wave, plot_grid
from ..store.disk import cache_dir
from .options import add_preset_arguments, preset_from_args

NAME = "samples"


def add_parser(sub) -> None:
    p = sub.add_parser("samples", help="synthesize one batch with a data-free method: PNG grid + WAV files")
    p.add_argument("--method", default="frami", help="a data-free method (adi, cmi, frami, frami-...)")
    p.add_argument("--dataset", default="synth")
    p.add_argument("--data-root", type=Path, default=None,
                   help="folder holding the real datasets (default: $DFKD_DATA_ROOT)")
    add_bad_file_argument(p)
    add_preset_arguments(p)
    p.add_argument("--pair", default=None, help="teacher:student (default: the preset's first pair)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, default=12, help="how many samples to show and write")
    p.add_argument("--out", type=Path, default=Path("results/samples"))
    p.add_argument("--device", default="auto")


def main(args) -> int:
    spec_method = METHODS.get(args.method)
    if not issubclass(spec_method.method_cls, DataFreeMethod):
        raise ValueError(f"method {args.method!r} synthesizes nothing; choose a data-free method: "
                         + ", ".join(n for n in METHODS.names() if issubclass(METHODS.get(n).method_cls, DataFreeMethod)))
    preset = apply_bad_file_choice(preset_from_args(args), args.on_bad_file)
    (teacher_arch, student_arch), = parse_pairs(args.pair or preset.pairs[0])
    device = resolve_device(args.device)
    spec = SweepSpec(preset, (args.dataset,), ((teacher_arch, student_arch),), (args.method,), (args.seed,),
                     data_root=args.data_root)
    data = DataProvider(spec).get(args.dataset)
    cell = Cell(args.dataset, teacher_arch, student_arch, args.method, args.seed)
    ctx = make_context(cell, preset, data, TeacherCache(cache_dir() / "teachers"), device)
    method = build_method(args.method, method_config(args.method, preset))
    teacher, _ = ctx.teacher()
    frames = method.synthesized_frames(ctx)
    synthesizer = method.make_synthesizer(ctx, teacher, ctx.new_student().eval(), frames)
    try:
        synthesized = synthesizer.synthesize().float().cpu()
        targets = getattr(synthesizer, "last_targets", None)
    finally:
        synthesizer.close()
    diagnostics = pool_diagnostics(teacher, synthesized, targets, data.train, data.num_classes, len(synthesized),
                                   device, args.seed, batches=1)
    batch = synthesized[: args.count]
    with torch.no_grad():
        probs = teacher(batch.to(device)).softmax(1).cpu()
    labelled = label_samples(SynthesizedSamples(batch, probs), data)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for i, (mel, label, confidence) in enumerate(zip(labelled.log_mels, labelled.labels, labelled.confidences)):
        wav = args.out / f"{args.method}_{i:02d}_{label}.wav"
        sf.write(wav, mel_to_wave(mel, data.frontend), data.frontend.sample_rate)
        manifest.append({"index": i, "teacher_label": label, "teacher_confidence": confidence, "wav": wav.name})
    png = args.out / f"{args.method}_samples.png"
    plot_grid(labelled.log_mels, labelled.titles(), png)
    (args.out / f"{args.method}_samples.json").write_text(json.dumps(
        {"method": args.method, "dataset": args.dataset, "preset": preset.name, "pair": f"{teacher_arch}:{student_arch}",
         "seed": args.seed, "diagnostics": diagnostics, "samples": manifest}, indent=2))
    print(f"synthesis diagnostics of the batch ({len(synthesized)} samples): "
          + ", ".join(f"{k} {v:.3g}" for k, v in diagnostics.items()))
    print(f"wrote {png} and {len(manifest)} WAV files to {args.out}")
    return 0
