"""Presets: the five registered scales of the benchmark (micro, smoke, cpu, gpu, paper). Every setting a result
depends on lives here and is recorded with each result.

- micro: code paths only, one or two steps of every phase; for the tests (its numbers mean nothing).
- smoke: seconds; for the tests.
- cpu:   minutes on 2 CPU cores; the default and the committed results.
- paper: the paper's protocol (ResNet-34->18, WRN-40-2->16-2 on the real datasets) at the
         DeepInversion/CMI reference scale; for GPUs.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..core.features import FrontEndConfig
from ..core.registry import Registry
from ..data.base import DataConfig


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    data: DataConfig
    frontend: FrontEndConfig
    datasets: tuple[str, ...]  # the default of --datasets
    pairs: tuple[str, ...]  # "teacher:student"
    seeds: int
    embedding_dim: int = 128
    # Changes to the methods' paper-default configs, each block with a fixed reach (methods/overrides.py):
    # `supervised` reaches every TrainConfig (teacher, student, kd, the teacher's training), `data_free`
    # every DataFreeConfig (adi, cmi, frami and its ablations), `per_method` one named method (last).
    # A key that nothing in its block's reach has is an error, so a typo cannot pass silently.
    supervised: dict[str, Any] = field(default_factory=dict)
    data_free: dict[str, Any] = field(default_factory=dict)
    per_method: dict[str, dict[str, Any]] = field(default_factory=dict)
    amp: bool = False  # bf16 autocast on CUDA
    # Changes made from the command line (--set/--config: benchmark/config/customize.py), already applied to the
    # blocks above; kept so every record names them and its config hash differs from the preset's own.
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


PRESETS: Registry[Preset] = Registry("preset")


def register_preset(preset: Preset) -> None:
    """A preset under its own name, listed with its own summary (`list presets`)."""
    PRESETS.add(preset.name, preset, preset.summary)
# The CPU presets' front end: 16 kHz, 25 ms window, 20 ms hop, 32 mels.
_SHORT_BUDGET_FRONTEND = FrontEndConfig(sample_rate=16000, n_fft=512, win_length=400, hop_length=320, n_mels=32)

# ADI optimises inputs directly; its reference (DeepInversion CIFAR-10: r_feature 10, Adam lr 0.05,
# 2000 steps) needs the steps: with the cpu preset's 24 (1.2%), the BN term (x10) dominates and the
# teacher's argmax equals the intended label for 12.5% of a batch (9.4% at lr 0.2), about chance.
# Measured on one batch of 32, cpu preset teacher, seed 0 (tests/measurements/measure_synthesis.py):
#   bn 10, lr 0.05: 24 steps 12.5%, 240 steps 59%     bn 1, lr 0.05: 24 steps 31%, 240 steps 100%
#   bn 10, lr 0.2:  24 steps  9.4%, 240 steps 31%     bn 1, lr 0.2:  24 steps 75%
# So the short-budget presets take r_feature 1 and step size 0.2; every other ADI setting stays the reference's.
_SHORT_BUDGET_ADI = {"adi": {"input_lr": 0.2, "bn_weight": 1.0}}
# Fast (methods/fast.py; paper values: fast_cifar.sh:8, 220 rounds of which 20 warm-up, g_steps 10). At a short
# budget the cell keeps the reference's shape: a warm-up round that only synthesizes (the reference's 20 of 220
# rounds, 9%, rounded to one), the shared generator's reset after 60% of the distilling rounds (120 of 200), the
# reference's own step sizes for the chosen g_steps (fast_cifar.sh:4 for 2 steps, :6 for 5), and as many
# distilling rounds as CMI's preset has, so KD work is the same and synthesis is what differs. Measured at
# seed 0 (methods/README.md, "Methods and how they are adapted to spectrograms", item fast, has the command and
# the seconds):
#   cpu: 7 rounds (1 warm-up) x 5 steps x 32 clips = 1120 sample-iterations vs CMI's 6 x 24 x 32 = 4608.
_FAST_CPU = {"rounds": 7, "warmup": 1, "iterations": 5, "lr_g": 3e-3, "lr_z": 0.01, "reset_round": 4,
             "pool_size": 7 * 32}
_FAST_SMOKE = {"rounds": 3, "warmup": 1, "iterations": 2, "lr_g": 5e-3, "lr_z": 0.015, "reset_round": 1,
               "pool_size": 3 * 16}
_FAST_MICRO = {"rounds": 2, "warmup": 1, "reset_round": 1, "pool_size": 8}  # every code path: warm-up, reset, KD
# DAFL, DFAD, ZSKT, DFQ (methods/inversion/generative.py; paper values: the CMI scripts, one generator step then
# 5 KD steps per round, DFQ 10, batch 256 for both). Short budgets keep that shape -- one generator step on a fresh
# batch per round, then 5 (DFQ 10) KD steps on fresh samples, synthesis batch = KD batch -- and give the student
# as many KD steps as CMI's preset (cpu: 6 x 50 = 300 of 64), so KD work is equal and synthesis is what differs:
#   cpu: 60 rounds (DFQ 30) x 1 step x 64 = 3840 generator sample-iterations vs CMI's 6 x 24 x 32 = 4608;
#        validation every 10 rounds (DFQ 5), i.e. 6 checks as CMI's. Measured at seed 0 (`run --preset cpu
#        --methods M --seeds 1`, on 2 cores shared with other jobs at load 5-6, so seconds are inflated): DAFL
#        13.3% test (val 15.0%), DFAD 10.0% (chance; kd-noise 10.0%, CMI's committed seed 0 30.0%); wall 1091 s and
#        696 s, of which KD 772 s and 483 s, synthesis 241 s and 164 s. In the same window a Fast cell of the same
#        KD work took 841 s and a kd-noise cell 301 s (41 s unloaded), so a cell costs about a CMI cell (85 s
#        unloaded), KD dominating. Later, at a lower load: ZSKT 10.0% (val 11.7%) in 359 s (KD 262, synthesis 74;
#        kd-noise right after: 101 s), DFQ 10.8% (val 11.7%) in 143 s (KD 116, synthesis 19; 1920 sample-its). At 60 generator steps the generator barely leaves its start (DFAD's teacher
#        sees 4 classes in its samples, DAFL's 9 of 10): these presets test code and cost, not the methods.
#        Measured alternatives (seed 0; results/README.md, "Cost-accuracy frontier and the field's baselines";
#        results/field/generator-budget): 10x lr_g, 5 steps a round, or both leave DAFL, DFAD and ZSKT at chance
#        (DAFL 10.0-14.2%), so the references' shape stays.
#   smoke: 5 rounds (DFQ 3) x 1 step x 32, 25 (30) KD steps of 32 vs the block's 2 x 12 = 24; micro: 2 rounds of
#        1 step and 2 KD steps (every code path: a generator step after KD).
def _generative(rounds: int, kd_steps: int, batch: int, eval_every: int) -> dict[str, dict]:
    five = {"rounds": rounds, "iterations": 1, "kd_steps": kd_steps, "synth_batch": batch, "eval_every": eval_every}
    ten = five | {"rounds": -(-rounds // 2), "kd_steps": 2 * kd_steps, "eval_every": max(1, eval_every // 2)}
    return {"dafl": five, "dfad": five, "zskt": five, "dfq": ten}


_GENERATIVE_CPU = _generative(rounds=60, kd_steps=5, batch=64, eval_every=10)
_GENERATIVE_SMOKE = _generative(rounds=5, kd_steps=5, batch=32, eval_every=1)
_GENERATIVE_MICRO = _generative(rounds=2, kd_steps=1, batch=4, eval_every=1) | {
    "dfq": {"rounds": 2, "iterations": 1, "kd_steps": 2, "synth_batch": 4, "eval_every": 1}}
# At short budgets every student -- supervised, KD and data-free -- is trained with the same optimizer
# (AdamW, lr 3e-3), so the methods differ only in their transfer set and distillation loss; with a few
# hundred steps the reference SGD (lr 0.1, tuned for 80k steps) leaves data-free students underfitting
# even their own transfer set. The paper preset keeps the reference SGD.

# smoke: seconds per cell (the budget set for the slow test tier: each data-free cell <= 10 s, every method x 1 seed
# with both pairs and their teachers <= 60 s on 2 cores; README.md, "Presets", gives 54 s measured). Its numbers
# are regression bounds for the tests, not evidence about methods.
_SUPERVISED_SMOKE = {"epochs": 10, "batch_size": 32, "lr": 3e-3, "min_epochs_before_stop": 10, "patience": 10}
_DATA_FREE_SMOKE = {"rounds": 2, "synth_batch": 16, "iterations": 4, "kd_steps": 12, "kd_batch": 32,
                    "pool_size": 64, "eval_every": 1, "bank_size": 64, "n_negatives": 32, "nz": 16,
                    "generator_width": 8, "kd_optimizer": "adamw", "kd_lr": 3e-3, "kd_weight_decay": 1e-4,
                    "checkpointing": "off"}
register_preset(Preset(
    name="smoke",
    summary="seconds: tiny synth set and models, a few steps of everything (tests, regression bounds)",
    data=DataConfig(sample_rate=16000, synth_clips_per_class=30, synth_min_seconds=0.5, synth_max_seconds=1.0,
                    synth_snr_db=(6.0, 20.0)),
    frontend=_SHORT_BUDGET_FRONTEND,
    datasets=("synth",),
    pairs=("resnet34_tiny:resnet18_tiny", "wrn16_2_tiny:wrn10_2_tiny"),
    seeds=2,
    embedding_dim=32,
    supervised=_SUPERVISED_SMOKE,
    data_free=_DATA_FREE_SMOKE,
    per_method={**_SHORT_BUDGET_ADI, "fast": _FAST_SMOKE, **_GENERATIVE_SMOKE},
))

# micro: one or two steps of every phase, for the tests that follow code paths end to end (every method,
# kill-and-resume, executors). Its accuracies mean nothing; no bounds are kept for it.
register_preset(Preset(
    name="micro",
    summary="code paths only: a few clips and one or two steps of every phase (tests; numbers mean nothing)",
    data=DataConfig(sample_rate=16000, synth_clips_per_class=8, synth_min_seconds=0.5, synth_max_seconds=0.6,
                    synth_snr_db=(6.0, 20.0)),
    frontend=_SHORT_BUDGET_FRONTEND,
    datasets=("synth",),
    pairs=("wrn16_2_tiny:wrn10_2_tiny",),
    seeds=1,
    embedding_dim=16,
    supervised={"epochs": 1, "batch_size": 16, "lr": 3e-3, "min_epochs_before_stop": 1, "patience": 1},
    data_free={"rounds": 1, "synth_batch": 4, "iterations": 2, "kd_steps": 2, "kd_batch": 4, "pool_size": 8,
               "eval_every": 1, "bank_size": 8, "n_negatives": 4, "nz": 8, "generator_width": 4,
               "kd_optimizer": "adamw", "kd_lr": 3e-3, "kd_weight_decay": 1e-4, "checkpointing": "off"},
    per_method={**_SHORT_BUDGET_ADI, "fast": _FAST_MICRO, **_GENERATIVE_MICRO},
))

# FRAMI's synthesized length (`length_factor`: our choice, the paper gives none; the paper preset keeps 2.0). At the
# cpu preset FRAMI and its ablations synthesize and distil at the typical training clip's length (1.0). Measured on
# `synth`, 3 seeds, the same teachers (results/README.md, "What changed for the 45-minute target, and what it
# measured", has the table): FRAMI 30.0 / 59.2 / 30.0 % at 1.0 against 21.7 / 40.8 / 35.8 at 2.0, the ablations'
# means 31.9-35.0 against 20.8-33.1 (higher in 9 of 12 seed pairs), in 125-156 s per cell against 194-225 s: it is
# what brings the quick start near its 45 minutes.
_FRAMI_FAMILY = ("frami", "frami-no-finv", "frami-no-reused", "frami-no-finv-no-reused")
_FRAMI_CPU = {name: {"length_factor": 1.0} for name in _FRAMI_FAMILY}
_SUPERVISED_CPU = {"epochs": 20, "batch_size": 32, "lr": 3e-3, "min_epochs_before_stop": 10, "patience": 8}
_DATA_FREE_CPU = {"rounds": 6, "synth_batch": 32, "iterations": 24, "kd_steps": 50, "kd_batch": 64,
                  "pool_size": 6 * 32, "eval_every": 1, "bank_size": 1024, "n_negatives": 256, "nz": 64,
                  "generator_width": 16, "kd_optimizer": "adamw", "kd_lr": 3e-3, "kd_weight_decay": 1e-4,
                  # small models, small batches: memory is no concern, and checkpointing costs a forward per block
                  "checkpointing": "off"}
register_preset(Preset(
    name="cpu",
    summary="minutes on 2 CPU cores: synth set, narrow ResNet/WRN pairs, CMI-style loop scaled down",
    data=DataConfig(sample_rate=16000, synth_clips_per_class=80, synth_min_seconds=0.5, synth_max_seconds=2.5),
    frontend=_SHORT_BUDGET_FRONTEND,
    datasets=("synth",),
    # One pair keeps the default run near the 45-minute target on 2 cores (14.2 min on a 2-core AMD EPYC at code
    # fe78987, 29.2 at 94dce4f; 45.0-49.4 on a 2-core Intel Xeon at older code: results/README.md, "Quick-start wall
    # time"); the WRN pair is the one of the paper's Table 3. Add `--pairs resnet34_tiny:resnet18_tiny` for the
    # ResNet row.
    pairs=("wrn16_2_tiny:wrn10_2_tiny",),
    seeds=3,
    embedding_dim=64,
    supervised=_SUPERVISED_CPU,
    data_free=_DATA_FREE_CPU,
    per_method={**_SHORT_BUDGET_ADI, "fast": _FAST_CPU, **_GENERATIVE_CPU, **_FRAMI_CPU},
))

register_preset(Preset(
    name="paper",
    summary="the paper's protocol on GPUs: real datasets, ResNet-34->18 and WRN-40-2->16-2, reference scale",
    data=DataConfig(sample_rate=32000, synth_clips_per_class=400),
    # PANNs-style front end: n_fft 1024, hop 320 at 32 kHz (10 ms), 64 mels.
    frontend=FrontEndConfig(sample_rate=32000, n_fft=1024, win_length=1024, hop_length=320, n_mels=64),
    datasets=("esc50", "us8k", "audiomnist"),
    pairs=("resnet34:resnet18", "wrn40_2:wrn16_2"),
    seeds=3,
    embedding_dim=128,
    # Supervised training only: the data-free methods keep their reference defaults (methods/README.md, "Reference
    # settings of the `paper` preset"); this lr is AdamW's for teacher/student/KD and reaches nothing else.
    supervised={"epochs": 100, "batch_size": 64, "lr": 1e-3, "patience": 20},
    amp=True,
))


# gpu: the paper's datasets, pairs, front end and bf16, at a budget whose whole grid (`--methods paper,cmi`: the
# paper's rows, CMI and the two controls, 3 seeds) is priced at 23.3 GPU-hours on one H100 from the committed H200
# step times scaled by each cell's FLOPs and bytes (`python -m benchmark plan --preset gpu --methods paper,cmi
# --datasets all --reference`; results/plan/gpu.md), against about 1,700 for the `paper` preset priced the same way.
# Where the cuts sit (benchmark/README.md, "A grid that fits a GPU-day", says what each is known to cost): 30 rounds
# instead of 200, 40 synthesis steps per batch instead of 200 (the cpu preset's budget curve: CMI flat from 4-12
# steps, ADI and FRAMI still rising at 24-32), ADI 200 instead of 2000, batches of 128 instead of 256, 200 KD steps a
# round instead of 400, FRAMI at the clip length (measured better at the cpu preset), 60 supervised epochs. Its
# synthesis passes and KD losses are compiled (torch.compile, inductor: methods/inversion/compiled.py; the same math,
# tests/test_compiled_steps.py), which has not yet run on a GPU: `--set data_free.compile=off` runs them eagerly.
_GPU_FRAMI = {name: {"length_factor": 1.0} for name in _FRAMI_FAMILY}
register_preset(replace(
    PRESETS.get("paper"),
    name="gpu",
    summary="a GPU-day: the paper's datasets, pairs and front end at a cut budget (23 GPU-h for paper,cmi on one H100)",
    supervised={"epochs": 60, "batch_size": 64, "lr": 1e-3, "patience": 20},
    data_free={"rounds": 30, "synth_batch": 128, "iterations": 40, "kd_steps": 200, "pool_size": 30 * 128,
               "eval_every": 5, "compile": "inductor"},
    per_method={"adi": {"iterations": 200}, **_GPU_FRAMI},
))
