"""A grid priced from step times measured on another device: the committed GPU run (`benchmark throughput` on an
H200, results/gpu/throughput/throughput.json), scaled to each cell by its counted FLOPs and bytes, and to the target
device by its peak and memory bandwidth. For where no calibration on the device itself exists yet.

The scaling keeps each measured step's fraction of its roofline: a cell's step takes
    t_ref x max(F / P_target, B / W_target) / max(F_ref / P_ref, B_ref / W_ref),
with F and B the FLOPs and bytes the planner counts for the cell's step and for the measured step at its own shape
(benchmark/planning/steps.py, on the meta device), P the bf16 matmul peak (measured on the reference device; the
same chip for an H100) and W the memory bandwidth (datasheets: H100 SXM 3.35 TB/s, H200 4.8 TB/s). A data-free
method without a measured step of its own is scaled from the nearest measured one (the FRAMI family from FRAMI,
the generator methods from CMI, the controls' KD from ADI's); a supervised training step from the measured forward
of the nearest measured architecture; and each of these is named in the price's `from` label. It is an estimate,
labelled as such wherever it is printed; `plan --calibrate` on the device replaces it."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from methods import METHODS, method_config
from methods.inversion.loop import DataFreeMethod
from methods.kd import KnowledgeDistillation
from methods.supervised import TeacherMethod

from ..config.presets import PRESETS, Preset
from ..planning.plan import Device, plan_cell
from ..planning.shapes import dataset_shape
from ..planning.steps import forward_step, kd_step, synthesis_step, train_step
from .calibration import CellTimes, teacher_method

REFERENCE = Path(__file__).resolve().parents[2] / "results" / "gpu" / "throughput" / "throughput.json"


@dataclass(frozen=True)
class DeviceSpec:
    name: str
    bytes_per_s: float  # datasheet memory bandwidth


TARGETS = {"h100": DeviceSpec("H100 SXM", 3.35e12), "h200": DeviceSpec("H200", 4.8e12)}
# The reference run's own bandwidth: the device named in throughput.json (datasheet, as the targets').
REFERENCE_BANDWIDTH = {"cuda:NVIDIA H200": 4.8e12, "cuda:NVIDIA H100 80GB HBM3": 3.35e12}
# A method with no measured step of its own takes the nearest measured one's fraction of its roofline.
NEAREST = {"frami-no-finv": "frami", "frami-no-reused": "frami", "frami-no-finv-no-reused": "frami",
           "fast": "cmi", "dafl": "cmi", "dfad": "cmi", "zskt": "cmi", "dfq": "cmi",
           "kd-noise": "adi", "kd-subset": "adi"}
ARCH_NEAREST = {"resnet34": "wrn40_2", "resnet18": "wrn16_2"}


@dataclass(frozen=True)
class Measured:
    seconds: float
    flops: float
    bytes: float


class ReferenceSteps:
    """The reference run's steps, each with the FLOPs and bytes the planner counts for it at its own shape."""

    def __init__(self, path: Path = REFERENCE, target: str = "h100"):
        report = json.loads(Path(path).read_text())
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
        self.path, self.target, self.device = Path(path), TARGETS[target], report["device"]
        if self.device not in REFERENCE_BANDWIDTH:
            raise ValueError(f"{path} was measured on {self.device}, whose bandwidth is not known here; known: "
                             f"{', '.join(REFERENCE_BANDWIDTH)}")
        self.peak = max(p["flops_per_s"] for p in report["matmul_peak"] if p["precision"] == "bf16")
        self.preset = PRESETS.get(report["preset"])
        self.teacher, self.student = report["pair"].split(":")
        self.classes = 10  # the reference dataset, synth: 10 classes
        self.steps: dict[tuple[str, str], Measured] = {}
        self.feature_seconds_per_audio_second = None
        for m in report["measurements"]:
            frames = int(re.match(r"(\d+) frames", m["note"]).group(1)) if "frames" in m["note"] else None
            if m["phase"] in ("synthesis", "distill"):
                self.steps[m["method"], m["phase"]] = self._measured(m, frames)
            elif m["phase"] == "evaluate":
                self.steps[m["model"], "forward"] = self._measured(m, frames)
            elif m["phase"] == "features":
                seconds = float(re.match(r"([\d.]+) s of audio", m["note"]).group(1))
                self.feature_seconds_per_audio_second = m["ms_per_sample"] / 1000 / seconds

    def _measured(self, m: dict, frames: int) -> Measured:
        n_mels, dim = self.preset.frontend.n_mels, self.preset.embedding_dim
        if m["phase"] == "evaluate":
            count = forward_step(m["model"], self.classes, n_mels, frames, dim, m["batch"])
        else:
            config = method_config(m["method"], self.preset)
            if m["phase"] == "synthesis":
                count = synthesis_step(m["method"], config, self.teacher, self.student, self.classes, n_mels, frames,
                                       dim)
            else:
                count = kd_step(m["method"], config, self.teacher, self.student, self.classes, n_mels, frames, dim)
        return Measured(m["ms_per_step_median"] / 1000, count.flops, count.bytes_moved)

    def scaled(self, measured: Measured, flops: float, bytes_moved: float) -> float:
        reference = max(measured.flops / self.peak, measured.bytes / REFERENCE_BANDWIDTH[self.device])
        target = max(flops / self.peak, bytes_moved / self.target.bytes_per_s)
        return measured.seconds * target / reference

    def label(self) -> str:
        return (f"{self.device} steps of {self.path.name} scaled by FLOPs and bytes to {self.target.name} "
                "(an estimate, not a calibration)")

    def times(self, preset: Preset, dataset: str, teacher: str, student: str, method: str) -> CellTimes:
        """The cell's step times on the target, as a calibration would hold them."""
        cell = plan_cell(preset, dataset, teacher, student, method, 1, Device(memory_gb=1e9))
        shape = dataset_shape(dataset, preset.data)
        n_mels, dim, frames = preset.frontend.n_mels, preset.embedding_dim, shape.frames(preset.frontend)
        seconds = {"features": shape.typical_seconds * (self.feature_seconds_per_audio_second or 0.0),
                   "evaluate": self._forward(student, shape.num_classes, n_mels, frames, dim)}
        if issubclass(METHODS.get(method).method_cls, DataFreeMethod):
            ref = NEAREST.get(method, method)
            optimises = METHODS.get(method).method_cls.optimises_samples
            seconds["synthesis"] = (self.scaled(self.steps[ref, "synthesis"], cell.flops_per_synthesis_step,
                                                cell.bytes_per_synthesis_step) if optimises else 0.0)
            seconds["distill"] = self.scaled(self.steps[ref, "distill"], cell.flops_per_kd_step,
                                             cell.bytes_per_kd_step)
        else:
            seconds["train"] = self._train(preset, method, teacher, student, shape.num_classes, n_mels, frames, dim)
        teacher_step = self._train(preset, teacher_method(), teacher, student, shape.num_classes, n_mels, frames, dim)
        val = round(shape.train_clips * preset.data.val_fraction)  # carved from the training split
        return CellTimes(seconds, train_clips=shape.train_clips - val, val_clips=val,
                         test_clips=shape.test_clips or val, teacher_step_seconds=teacher_step,
                         teacher_evaluate_seconds=self._forward(teacher, shape.num_classes, n_mels, frames, dim),
                         source=f"reference: {self.device} steps scaled to {self.target.name}")

    def _forward(self, arch: str, classes: int, n_mels: int, frames: int, dim: int) -> float:
        """Seconds to score one clip: the measured forward of the nearest architecture, scaled."""
        measured = self.steps[ARCH_NEAREST.get(arch, arch), "forward"]
        count = forward_step(arch, classes, n_mels, frames, dim, 60)
        return self.scaled(measured, count.flops, count.bytes_moved) / 60

    def _train(self, preset, method, teacher, student, classes, n_mels, frames, dim) -> float:
        """One supervised step, scaled from the measured forward of the trained architecture's nearest."""
        config, cls = method_config(method, preset), METHODS.get(method).method_cls
        arch = teacher if issubclass(cls, TeacherMethod) else student
        count = train_step(config, arch, teacher if issubclass(cls, KnowledgeDistillation) else None, classes, n_mels,
                           frames, dim)
        measured = self.steps[ARCH_NEAREST.get(arch, arch), "forward"]
        return self.scaled(measured, count.flops, count.bytes_moved)
