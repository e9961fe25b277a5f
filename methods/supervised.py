"""Data-driven baselines of Table 2: the teacher and the student trained from scratch."""
from __future__ import annotations

from benchmark.core.training import PhaseStats, TrainConfig, train_supervised

from .base import CellContext, Method, MethodResult
from .registry import register_method


class TeacherMethod(Method):
    """Supervised teacher (trained once per dataset/arch/seed/config, then cached)."""

    def run(self, ctx: CellContext) -> MethodResult:
        teacher, info = ctx.teacher()
        # The teacher's training cost, wherever it was paid (in this cell, an earlier sweep, or the
        # teacher phase of a parallel sweep), so every teacher record reports what a teacher costs.
        trained = info["train"]
        phase = PhaseStats(trained["seconds"], trained["samples"], trained["steps"])
        return MethodResult(teacher, info["val_accuracy"], {"teacher": phase}, extras={"teacher_cached": info["cached"]})


class StudentMethod(Method):
    """Student architecture trained from scratch on real data (no teacher)."""

    uses_teacher = False

    def run(self, ctx: CellContext) -> MethodResult:
        student = ctx.new_student()
        val_acc, stats, end = train_supervised(student, ctx.data.train, ctx.data.val, self.config, ctx.device, ctx.seed,
                                          label=f"student {ctx.student_arch}", log=ctx.log)
        return MethodResult(student, val_acc, {"train": stats}, end_of_budget=end)


register_method("teacher", TeacherMethod, TrainConfig(), "teacher trained on real data (Table 2, data driven)",
                table2=dict(label="Teacher", order=0, paper={
                    "resnet34:resnet18": {"us8k": 80.05, "esc50": 68.25, "audiomnist": 99.90},
                    "wrn40_2:wrn16_2": {"us8k": 77.65, "esc50": 64.50, "audiomnist": 99.83}}))
register_method("student", StudentMethod, TrainConfig(), "student trained from scratch on real data (data driven)",
                table2=dict(label="Student", order=1, paper={
                    "resnet34:resnet18": {"us8k": 76.70, "esc50": 62.50, "audiomnist": 99.53},
                    "wrn40_2:wrn16_2": {"us8k": 72.63, "esc50": 60.75, "audiomnist": 99.47}}))
