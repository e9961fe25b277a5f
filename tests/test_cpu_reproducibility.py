"""The same command gives the same teacher. Two processes with different PYTHONHASHSEED train bit-identical
micro teachers (this held before the kernels were pinned: the hash seed reaches no ordering), and so do a process
with this CPU's kernels and one with an AVX2-only host's (ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA capped at AVX2,
as on a Zen 2/3 EPYC), because importing `benchmark` caps torch's CPU kernels at AVX2 (benchmark/core/cpu_isa.py).
Without the cap an AVX-512 host trains other weights than an AVX2 host: the long-clip study's seed-5 teacher, val
65.8 on one "AMD EPYC" and 76.7 on the next."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from tests.helpers import REPO

# One micro teacher through the harness's own path (DataProvider, TeacherCache), in a private cache; prints the
# hash of its weights and the CPU kernels it ran on.
TRAIN_ONE_TEACHER = r'''
import torch
from benchmark.checkpoints.model_io import weights_sha256
from benchmark.checkpoints.teachers import TeacherCache
from benchmark.config.presets import PRESETS
from benchmark.execution.cell import train_or_load_teacher
from benchmark.execution.grid import SweepSpec
from benchmark.execution.loading import DataProvider
from benchmark.store.disk import cache_dir

torch.set_num_threads(1)
preset = PRESETS.get("micro")
teacher, student = preset.pairs[0].split(":")
data = DataProvider(SweepSpec(preset, ("synth",), ((teacher, student),), ("teacher",), (0,))).get("synth")
model, info = train_or_load_teacher(preset, data, teacher, 0, TeacherCache(cache_dir() / "teachers"),
                                    torch.device("cpu"))
assert not info["cached"]
print(weights_sha256(model), torch.backends.cpu.get_cpu_capability())
'''
ISA_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DFKD_NATIVE_CPU_ISA")
AVX2_HOST = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def run_python(code: str, cache, hash_seed: str, **env: str) -> list[str]:
    """Run `code` in a fresh process with an empty cache; the ISA variables are not inherited from this process
    (its own import of benchmark set them)."""
    inherited = {k: v for k, v in os.environ.items() if k not in ISA_VARIABLES}
    full = {**inherited, "DFKD_CACHE": str(cache), "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])), **env}
    done = subprocess.run([sys.executable, "-c", code], env=full, cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()


def teacher_digest(cache, hash_seed: str, **env: str) -> tuple[str, str]:
    digest, capability = run_python(TRAIN_ONE_TEACHER, cache, hash_seed, **env)[-2:]
    return digest, capability


def test_two_processes_with_different_hash_seeds_train_the_same_teacher(tmp_path):
    assert teacher_digest(tmp_path / "a", "1") == teacher_digest(tmp_path / "b", "2")


@pytest.mark.skipif(not (hasattr(torch.cpu, "_is_avx2_supported") and torch.cpu._is_avx2_supported()),
                    reason="the kernels are capped at AVX2 only where the CPU has it")
def test_importing_benchmark_caps_the_cpu_kernels_before_any_tensor_work(tmp_path):
    """On every x86 host with AVX2 (so on AVX2-only CI machines too): the kernels in use are AVX2's, and the
    cap yields to a value the user set and to DFKD_NATIVE_CPU_ISA=1."""
    code = "import benchmark, torch, os; print(torch.backends.cpu.get_cpu_capability(), os.environ['ONEDNN_MAX_CPU_ISA'])"
    assert run_python(code, tmp_path, "0") == ["AVX2", "AVX2"]
    native = run_python("import benchmark, os; print(os.environ.get('ATEN_CPU_CAPABILITY', 'unset'))", tmp_path, "0",
                        DFKD_NATIVE_CPU_ISA="1")
    assert native == ["unset"]
    kept = run_python("import benchmark, os; print(os.environ['ATEN_CPU_CAPABILITY'])", tmp_path, "0",
                      ATEN_CPU_CAPABILITY="default")
    assert kept == ["default"]


@pytest.mark.skipif(not (hasattr(torch.cpu, "_is_avx512_supported") and torch.cpu._is_avx512_supported()),
                    reason="an AVX2 host's kernels differ from this CPU's own only where it has AVX-512")
def test_an_avx2_only_host_trains_the_same_teacher_as_an_avx512_host(tmp_path):
    here = teacher_digest(tmp_path / "here", "1")
    avx2_host = teacher_digest(tmp_path / "avx2", "2", **AVX2_HOST)
    assert avx2_host[1] == "AVX2"
    assert here == avx2_host, f"this CPU's kernels ({here[1]}) train other weights than an AVX2 host's"
