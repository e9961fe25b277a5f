import pytest
import torch

from models import MODELS, create_model
from models.pooling import StatisticsPooling, masked_mean_var


def test_masked_statistics_equal_unpadded_computation():
    torch.manual_seed(0)
    clips = [torch.randn(5, t) for t in (7, 3, 11)]
    padded = torch.zeros(3, 5, 11)
    for i, c in enumerate(clips):
        padded[i, :, : c.shape[1]] = c
        padded[i, :, c.shape[1]:] = 1e3  # garbage in the padding must not leak in
    pooled = StatisticsPooling()(padded, torch.tensor([7, 3, 11]))
    for i, c in enumerate(clips):
        alone = StatisticsPooling()(c.unsqueeze(0))
        torch.testing.assert_close(pooled[i], alone[0])


def test_mean_var_by_hand():
    h = torch.tensor([[[1.0, 3.0, 100.0]]])  # one clip, one channel, 2 valid frames
    mean, var = masked_mean_var(h, torch.tensor([2]))
    assert mean.item() == pytest.approx(2.0)
    assert var.item() == pytest.approx(1.0)  # ((1-2)^2 + (3-2)^2) / 2


@pytest.mark.parametrize("name", MODELS.names())
@pytest.mark.parametrize("frames", [33, 64, 101])
def test_models_give_logits_and_hidden_states(name, frames):
    if name in ("resnet34", "wrn40_2") and frames != 64:
        pytest.skip("large trunks: one length is enough")
    model = create_model(name, num_classes=7, embedding_dim=16).eval()
    out = model.forward_hidden(torch.randn(2, 1, 32, frames), torch.tensor([frames, frames // 2]))
    assert out.logits.shape == (2, 7)
    assert out.utterance.shape == (2, 16)
    assert out.frames.shape[:2] == (2, model.channels)
    assert out.frames.shape[2] == -(-frames // model.time_stride)
    assert out.frame_lengths.tolist() == [-(-frames // model.time_stride), -(-(frames // 2) // model.time_stride)]
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def test_pooled_statistics_ignore_padding_inside_a_model():
    """Padding a clip in a batch leaves its pooled statistics (given its frames H) unchanged."""
    model = create_model("wrn10_2_tiny", num_classes=3, embedding_dim=8).eval()
    x = torch.randn(1, 1, 16, 40)
    h = model.frames(x)
    padded_h = torch.cat([h, torch.full((1, h.shape[1], 5), 50.0)], dim=2)
    lengths = torch.tensor([h.shape[2]])
    torch.testing.assert_close(model.backend.pooling(padded_h, lengths), model.backend.pooling(h))
