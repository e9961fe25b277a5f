"""pytest-benchmark suite for the hot kernels (skipped in the default run).

Run: python -m pytest tests/benchmarks --benchmark-enable --benchmark-only --benchmark-json=.benchmarks/kernels.json
Timings are measured and saved, never asserted.
"""
import numpy as np
import pytest
import torch

from benchmark.core.features import FrontEndConfig, LogMel
from methods.adi import ADIConfig, DeepInversionSynthesizer
from methods.frami import FeatureInvarianceSynthesizer, FRAMIConfig
from methods.inversion.distill import ReusedBackendDistiller, ReusedBackendWeights
from models import create_model
from models.pooling import StatisticsPooling

N_MELS, FRAMES, BATCH = 32, 64, 16


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    teacher = create_model("wrn16_2_tiny", 10, 64).eval().requires_grad_(False)
    student = create_model("wrn10_2_tiny", 10, 64)
    return teacher, student


def test_logmel_extraction(benchmark):
    logmel = LogMel(FrontEndConfig(n_mels=N_MELS, hop_length=320))
    wave = torch.from_numpy(np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32))
    benchmark(lambda: logmel(wave))


def test_statistics_pooling(benchmark):
    h = torch.randn(64, 128, 200)
    lengths = torch.randint(50, 200, (64,))
    benchmark(lambda: StatisticsPooling()(h, lengths))


def test_adi_synthesis_step(benchmark, pair):
    teacher, student = pair
    synth = DeepInversionSynthesizer(ADIConfig(synth_batch=BATCH, iterations=1), teacher, student.eval(), 10,
                                     (1, N_MELS, FRAMES), torch.device("cpu"), 0)
    benchmark(synth.synthesize)
    synth.close()


@pytest.mark.parametrize("finv", [False, True], ids=["cmi", "frami"])
def test_contrastive_synthesis_step(benchmark, pair, finv):
    teacher, student = pair
    cfg = FRAMIConfig(synth_batch=BATCH, iterations=1, nz=64, generator_width=16, bank_size=256, n_negatives=64,
                      feature_invariance=finv)
    synth = FeatureInvarianceSynthesizer(cfg, teacher, student.eval(), 10, N_MELS, FRAMES * (2 if finv else 1),
                                         torch.device("cpu"), 0)
    benchmark(synth.synthesize)
    synth.close()


def test_reused_backend_kd_step(benchmark, pair):
    teacher, student = pair
    distiller = ReusedBackendDistiller(teacher, student.train(), 20.0, ReusedBackendWeights())
    opt = torch.optim.AdamW(list(student.parameters()) + list(distiller.parameters()), lr=1e-3)
    x = torch.randn(64, 1, N_MELS, FRAMES)

    def step():
        loss = distiller(x)
        opt.zero_grad()
        loss.backward()
        opt.step()

    benchmark(step)
