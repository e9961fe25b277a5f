"""The roofline's byte count against values derived by hand (eager traffic: every operator reads its tensor inputs
and writes its outputs once; views move nothing), on the CPU and on the meta device, and the roofline itself."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from benchmark.costs.workbench import roofline
from benchmark.planning.memory import WorkCount

FP32 = 4


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_a_convolution_reads_input_weight_bias_and_writes_its_output(device):
    x = torch.randn(2, 3, 8, 8, device=device)
    w, b = torch.randn(4, 3, 3, 3, device=device), torch.randn(4, device=device)
    with WorkCount() as count:
        F.conv2d(x, w, b, padding=1)
    assert count.bytes_read == FP32 * (2 * 3 * 8 * 8 + 4 * 3 * 3 * 3 + 4)  # 1536 + 432 + 16
    assert count.bytes_written == FP32 * (2 * 4 * 8 * 8)  # 2048
    assert count.flops == 2 * (2 * 4 * 8 * 8) * (3 * 3 * 3)  # 2 x outputs x (C_in k k) multiply-adds


def test_a_matmul_reads_both_factors_and_writes_the_product():
    a, b = torch.randn(5, 7), torch.randn(7, 3)
    with WorkCount() as count:
        a @ b
    assert (count.bytes_read, count.bytes_written, count.flops) == (FP32 * (35 + 21), FP32 * 15, 2 * 5 * 7 * 3)


def test_batchnorm_in_training_reads_input_and_statistics_writes_output_and_saved_statistics():
    """native_batch_norm reads x, weight, bias, running mean and var (C each) and writes y plus the saved mean and
    inverse std (C each); the module's step counter (one int64) is read and written by its add_."""
    x = torch.randn(2, 3, 8, 8)
    bn = torch.nn.BatchNorm2d(3).train()
    with WorkCount() as count:
        bn(x)
    assert count.bytes_read == FP32 * (2 * 3 * 64 + 4 * 3) + 8
    assert count.bytes_written == FP32 * (2 * 3 * 64 + 2 * 3) + 8
    bn.eval()  # no saved statistics, no counter
    with WorkCount() as count:
        bn(x)
    assert (count.bytes_read, count.bytes_written) == (FP32 * (2 * 3 * 64 + 4 * 3), FP32 * (2 * 3 * 64))


def test_views_and_empty_allocations_move_nothing_in_place_operators_read_and_write():
    x = torch.randn(4, 6)
    with WorkCount() as count:
        x.view(6, 4).t().expand(2, 4, 6)
        torch.empty(1000)
    assert count.bytes == 0
    with WorkCount() as count:
        x.add_(1.0)
    assert (count.bytes_read, count.bytes_written) == (FP32 * 24, FP32 * 24)


def test_the_roofline_is_the_larger_of_the_two_terms():
    assert roofline(2e9, 1e9, flops_per_s=1e12, bytes_per_s=1e11) == (pytest.approx(0.01), "memory")
    assert roofline(2e10, 1e9, flops_per_s=1e12, bytes_per_s=1e11) == (pytest.approx(0.02), "compute")
