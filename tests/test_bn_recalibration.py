"""The BatchNorm-recalibration diagnostic (tests/measurements/measure_bn_recalibration.py) computes what it claims:
AdaBN statistics."""
import torch

from tests.measurements.measure_bn_recalibration import batches_by_length, recalibrated


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 2))


def test_running_statistics_are_the_average_over_the_clips_and_weights_stay():
    model = small_model().eval()
    model[1].running_mean.fill_(5.0)  # statistics as if from another distribution (a synthesized pool)
    clips = [torch.randn(4, 6) * 2 + 1 for _ in range(5)] + [torch.randn(4, 9) * 2 + 1 for _ in range(3)]
    adapted = recalibrated(model, clips)
    batches = batches_by_length(clips)
    with torch.no_grad():
        conv_out = [model[0](b) for b in batches]
    # Cumulative average over batches (momentum None): the mean of the per-batch means, unweighted by batch size.
    expected_mean = torch.stack([o.mean(dim=(0, 2, 3)) for o in conv_out]).mean(0)
    expected_var = torch.stack([o.var(dim=(0, 2, 3), unbiased=True) for o in conv_out]).mean(0)
    torch.testing.assert_close(adapted[1].running_mean, expected_mean)
    torch.testing.assert_close(adapted[1].running_var, expected_var)
    assert torch.equal(adapted[0].weight, model[0].weight) and torch.equal(adapted[5].weight, model[5].weight)
    assert float(model[1].running_mean[0]) == 5.0, "the saved model itself must stay as trained"
    assert not adapted.training


def test_batches_never_mix_lengths():
    clips = [torch.zeros(4, 6)] * 70 + [torch.zeros(4, 9)] * 2
    shapes = [tuple(b.shape) for b in batches_by_length(clips)]
    assert shapes == [(64, 1, 4, 6), (6, 1, 4, 6), (2, 1, 4, 9)]
