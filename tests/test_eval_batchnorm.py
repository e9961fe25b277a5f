"""The CPU's eval-mode BatchNorm (models/norm.py) and the BN-prior tap's hand-written backward compute
what the stock layer and autograd compute."""
import pytest
import torch

from methods.inversion.hooks import BatchNormStatistics, ChannelMoments
from models import create_model
from models.norm import BatchNorm2d


def _pair(channels: int, seed: int = 0):
    torch.manual_seed(seed)
    stock = torch.nn.BatchNorm2d(channels)
    stock.weight.data.normal_(1, 0.3)
    stock.bias.data.normal_()
    stock.running_mean.normal_()
    stock.running_var.uniform_(0.5, 2.0)
    fused = BatchNorm2d(channels)
    fused.load_state_dict(stock.state_dict())
    return stock.eval(), fused.eval()


@pytest.mark.parametrize("channels_last", [False, True])
def test_eval_forward_and_gradients_equal_the_stock_layer(channels_last):
    stock, fused = _pair(6)
    x = torch.randn(4, 6, 5, 7)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    grad = torch.randn(4, 6, 5, 7)
    outputs, grads = [], []
    for layer in (stock, fused):
        xi = x.clone().requires_grad_()
        out = layer(xi)
        out.backward(grad)
        outputs.append(out)
        grads.append((xi.grad, layer.weight.grad, layer.bias.grad))
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)
    for got, want in zip(grads[1], grads[0]):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_training_mode_is_the_stock_layer_and_updates_running_statistics():
    stock, fused = _pair(3)
    stock.train(), fused.train()
    x = torch.randn(8, 3, 4, 4)
    torch.testing.assert_close(fused(x), stock(x))
    torch.testing.assert_close(fused.running_mean, stock.running_mean)


def test_models_use_it_and_the_prior_still_hooks_every_trunk_batchnorm():
    model = create_model("wrn10_2_tiny", 4, embedding_dim=8).eval()
    layers = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert layers and all(type(m) is BatchNorm2d for m in layers)
    assert BatchNormStatistics(model).layers == layers


@pytest.mark.parametrize("with_mean,with_square", [(True, True), (True, False), (False, True)])
def test_tap_backward_equals_autograd_of_the_moments(with_mean, with_square):
    """d/dx of w1 . E[x] + w2 . E[x^2] (per channel) plus the gradient from above, against autograd on the
    plain formula; the incoming gradient is left as it was (the backward adds in place only to its own
    fresh tensor)."""
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    upstream = torch.randn_like(x)
    w_mean, w_square = torch.randn(4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)

    def loss(tapped, mean, square):
        total = (tapped * upstream).sum()
        if with_mean:
            total = total + (w_mean * mean).sum()
        if with_square:
            total = total + (w_square * square).sum()
        return total

    xa = x.clone().requires_grad_()
    tapped, mean, square = ChannelMoments.apply(xa)
    upstream_before = upstream.clone()
    loss(tapped, mean, square).backward()
    xb = x.clone().requires_grad_()
    dims = (0, 2, 3)
    loss(xb, xb.mean(dims), (xb * xb).mean(dims)).backward()
    torch.testing.assert_close(xa.grad, xb.grad)
    assert torch.equal(upstream, upstream_before)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("used", [("tapped", "mean", "square", "means"), ("means",), ("tapped", "means"),
                                  ("mean", "square")])
def test_tap_per_sample_means_backward_equals_autograd_and_keeps_the_layout(channels_last, used):
    """With per_sample the tap also hands out each sample's per-channel mean (CMI's instance embedding); its
    gradient joins the tap's own backward, equal to autograd of the plain means, in x's memory layout (the
    separate mean's backward was an NCHW tensor copied back to channels-last). The batch mean is the
    mean of the per-sample means. Outputs left unused get no gradient work."""
    torch.manual_seed(1)
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weights = {"tapped": torch.randn_like(x), "mean": torch.randn(4, dtype=torch.float64),
               "square": torch.randn(4, dtype=torch.float64), "means": torch.randn(3, 4, dtype=torch.float64)}

    def loss(outputs):
        return sum((weights[k] * outputs[k]).sum() for k in used)

    xa = x.clone().requires_grad_()
    tapped, mean, square, means = ChannelMoments.apply(xa, True)
    torch.testing.assert_close(mean, means.mean(0).float())
    loss({"tapped": tapped, "mean": mean, "square": square, "means": means}).backward()
    xb = x.clone().requires_grad_()
    loss({"tapped": xb, "mean": xb.mean((0, 2, 3)), "square": (xb * xb).mean((0, 2, 3)),
          "means": xb.mean((2, 3))}).backward()
    torch.testing.assert_close(xa.grad, xb.grad)
    assert xa.grad.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def test_instance_embedding_is_the_per_sample_means_of_every_hooked_layer():
    model = create_model("wrn10_2_tiny", 4, embedding_dim=8).eval()
    stats = BatchNormStatistics(model)
    x = torch.randn(2, 1, 8, 12)
    seen = []
    handles = [m.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().mean((2, 3))))
               for m in stats.layers]
    with torch.no_grad(), stats.active():
        model(x)
    for handle in handles:
        handle.remove()
    torch.testing.assert_close(stats.instance_embedding(), torch.cat(seen, dim=1))
    stats.remove()
