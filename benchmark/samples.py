"""`python -m benchmark samples`: look at and listen to what a data-free method synthesizes
(the paper's Figure 3): a PNG grid of log-mels with the teacher's labels, and WAV files made
by mel inversion (torchaudio InverseMelScale + Griffin-Lim)."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402
import torchaudio  # noqa: E402

from methods import METHODS, SynthesizedSamples, build_method, method_config  # noqa: E402
from methods.inversion.loop import DataFreeMethod  # noqa: E402

from .cell import Cell, label_samples, make_context  # noqa: E402
from .data import cache_dir  # noqa: E402
from .data.features import FrontEndConfig  # noqa: E402
from .presets import PRESETS  # noqa: E402
from .sweep import DataProvider, SweepSpec  # noqa: E402
from .teachers import TeacherCache  # noqa: E402


def add_samples_parser(sub) -> None:
    p = sub.add_parser("samples", help="synthesize one batch with a data-free method: PNG grid + WAV files")
    p.add_argument("--method", default="frami", help="a data-free method (adi, cmi, frami, frami-...)")
    p.add_argument("--dataset", default="synth")
    p.add_argument("--preset", default="cpu")
    p.add_argument("--pair", default=None, help="teacher:student (default: the preset's first pair)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, default=12, help="how many samples to show and write")
    p.add_argument("--out", type=Path, default=Path("results/samples"))
    p.add_argument("--device", default="auto")


def mel_to_wave(log_mel: torch.Tensor, fe: FrontEndConfig, griffin_lim_iters: int = 32) -> np.ndarray:
    """Invert a (n_mels, T) log-power mel spectrogram to audio (phase estimated by Griffin-Lim)."""
    power = (log_mel.exp() - fe.log_offset).clamp(min=0)
    inverse_mel = torchaudio.transforms.InverseMelScale(n_stft=fe.n_fft // 2 + 1, n_mels=fe.n_mels,
                                                        sample_rate=fe.sample_rate, f_min=fe.f_min, f_max=fe.f_max)
    griffin_lim = torchaudio.transforms.GriffinLim(n_fft=fe.n_fft, win_length=fe.win_length,
                                                   hop_length=fe.hop_length, power=2.0, n_iter=griffin_lim_iters)
    wave = griffin_lim(inverse_mel(power)).numpy()
    return (wave / (np.abs(wave).max() + 1e-9) * 0.9).astype(np.float32)


def plot_grid(log_mels: torch.Tensor, titles: list[str], path: Path) -> None:
    cols = min(4, len(log_mels))
    rows = -(-len(log_mels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, mel, title in zip(axes.flat, log_mels, titles):
        ax.imshow(mel.numpy(), origin="lower", aspect="auto", cmap="magma")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("frame", fontsize=7)
        ax.set_ylabel("mel bin", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(log_mels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_samples(args) -> int:
    from .environment import resolve_device
    from .cli import parse_pairs

    spec_method = METHODS.get(args.method)
    if not issubclass(spec_method.method_cls, DataFreeMethod):
        raise ValueError(f"method {args.method!r} synthesizes nothing; choose a data-free method: "
                         + ", ".join(n for n in METHODS.names() if issubclass(METHODS.get(n).method_cls, DataFreeMethod)))
    preset = PRESETS.get(args.preset)
    (teacher_arch, student_arch), = parse_pairs(args.pair or preset.pairs[0])
    device = resolve_device(args.device)
    spec = SweepSpec(preset, (args.dataset,), ((teacher_arch, student_arch),), (args.method,), (args.seed,))
    data = DataProvider(spec).get(args.dataset)
    cell = Cell(args.dataset, teacher_arch, student_arch, args.method, args.seed)
    ctx = make_context(cell, preset, data, TeacherCache(cache_dir() / "teachers"), device)
    method = build_method(args.method, method_config(args.method, preset))
    teacher, _ = ctx.teacher()
    frames = method.synthesized_frames(ctx)
    synthesizer = method.make_synthesizer(ctx, teacher, ctx.new_student().eval(), frames)
    try:
        batch = synthesizer.synthesize()[: args.count].float().cpu()
    finally:
        synthesizer.close()
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
         "seed": args.seed, "samples": manifest}, indent=2))
    print(f"wrote {png} and {len(manifest)} WAV files to {args.out}")
    return 0
