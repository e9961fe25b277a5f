"""Each loss on small hand-made inputs against values derived by hand."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F

from methods.adi import competition_loss
from methods.cmi import adversarial_loss
from methods.inversion.contrastive import (MemoryBank, feature_invariance, feature_invariance_contrastive_loss,
                                          instance_contrastive_loss, split_chunks)
from methods.inversion.distill import ReusedBackendDistiller, ReusedBackendWeights
from methods.inversion.hooks import BatchNormStatistics
from methods.inversion.pool import TensorPool
from methods.inversion.priors import l2_norm, total_variation_l2
from methods.losses import kd_kl
from models import create_model


def test_kd_kl_by_hand():
    # T=1, teacher probs (0.5, 0.5), student logits (log 0.25, log 0.75):
    # KL = 0.5 log(0.5/0.25) + 0.5 log(0.5/0.75) = 0.5 (log 2 + log 2/3) = 0.5 log(4/3)
    s = torch.log(torch.tensor([[0.25, 0.75]]))
    t = torch.zeros(1, 2)
    assert kd_kl(s, t, 1.0).item() == pytest.approx(0.5 * math.log(4 / 3), rel=1e-5)
    # temperature scaling multiplies by T^2 on the softened distributions
    assert kd_kl(2 * s, 2 * t, 2.0).item() == pytest.approx(4 * 0.5 * math.log(4 / 3), rel=1e-5)


def test_feature_invariance_is_mean_pairwise_cosine():
    # chunks e1=(1,0), e2=(0,1), e3=(1,1): cosines 0, 1/sqrt2, 1/sqrt2 -> mean sqrt2/3
    emb = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]])
    assert feature_invariance(emb).item() == pytest.approx(math.sqrt(2) / 3, rel=1e-6)
    assert feature_invariance(torch.ones(2, 4, 3)).tolist() == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError):
        feature_invariance(torch.ones(1, 1, 3))


def test_split_chunks_cuts_time_in_order():
    x = torch.arange(2 * 1 * 2 * 8, dtype=torch.float32).view(2, 1, 2, 8)
    chunks = split_chunks(x, 4)
    assert chunks.shape == (8, 1, 2, 2)
    torch.testing.assert_close(chunks[1], x[0, :, :, 2:4])
    torch.testing.assert_close(chunks[4], x[1, :, :, 0:2])


def test_cmi_contrastive_loss_by_hand():
    # two samples, orthogonal unit embeddings, tau=1: logits [[1,0],[0,1]] -> CE = log(1+e^-1) each
    local = torch.eye(2)
    global_ = torch.eye(2)
    expected = math.log(1 + math.exp(-1))
    assert instance_contrastive_loss(local, global_, 1.0, 2).item() == pytest.approx(expected, rel=1e-6)


def test_cmi_contrastive_loss_splits_current_and_cached_means():
    local = torch.eye(3)
    global_ = torch.eye(3)
    per_row = math.log(1 + 2 * math.exp(-1))
    # current rows: mean of 2 rows, cached rows: mean of 1 -> 2 * per_row
    assert instance_contrastive_loss(local, global_, 1.0, 2).item() == pytest.approx(2 * per_row, rel=1e-6)


def test_frami_eq2_by_hand_negatives_only_in_the_denominator():
    # tau=1, cos = I: row i has positive cos 1 and one negative cos 0:
    # -log(e^{1 + T} / e^0) = -(1 + T)
    local, global_ = torch.eye(2), torch.eye(2)
    assert feature_invariance_contrastive_loss(local, global_, 1.0, 2).item() == pytest.approx(-1.0)
    assert feature_invariance_contrastive_loss(local, global_, 1.0, 2, torch.zeros(2)).item() == pytest.approx(-1.0)
    t = torch.tensor([0.5, 0.25])
    assert feature_invariance_contrastive_loss(local, global_, 1.0, 2, t).item() == pytest.approx(
        -(1.5 + 1.25) / 2)
    # tau = 0.5, three rows (2 current + 1 cached), two negatives each with cos 0:
    # per row log(2 e^0) - (1 + T_i)/0.5; cached row has T = 0; mean(current) + mean(cached)
    t = torch.tensor([0.2, 0.4])
    rows = [math.log(2) - (1 + 0.2) / 0.5, math.log(2) - (1 + 0.4) / 0.5, math.log(2) - 1 / 0.5]
    expected = (rows[0] + rows[1]) / 2 + rows[2]
    assert feature_invariance_contrastive_loss(torch.eye(3), torch.eye(3), 0.5, 2, t).item() == pytest.approx(expected)


def test_frami_eq2_derivative_with_respect_to_t_finv_is_minus_one_over_tau_n():
    """d L_fic / d T_finv(X_i) = -1 / (tau * n) for every anchor, however large T_finv is: the
    positive is not in the denominator, so the term cannot saturate (CMI's softmax form would
    give -(1 - p_i) / (tau * n), which vanishes as T_finv lifts p_i to 1)."""
    torch.manual_seed(0)
    n, tau = 4, 0.1
    local = F.normalize(torch.randn(n, 8), dim=1)
    global_ = F.normalize(torch.randn(n, 8), dim=1)
    for level in (0.0, 0.7, 5.0):
        t = torch.full((n,), level, requires_grad=True)
        feature_invariance_contrastive_loss(local, global_, tau, n, t).backward()
        torch.testing.assert_close(t.grad, torch.full((n,), -1 / (tau * n)))


def test_bn_term_is_zero_when_batch_statistics_equal_running_ones():
    bn = torch.nn.BatchNorm2d(2).eval()
    x = torch.randn(4, 2, 3, 5)
    bn.running_mean.copy_(x.mean(dim=(0, 2, 3)))
    bn.running_var.copy_(x.var(dim=(0, 2, 3), unbiased=False))
    stats = BatchNormStatistics(torch.nn.Sequential(bn))
    with stats.active():
        bn(x)
    assert stats.loss().item() == pytest.approx(0.0, abs=1e-5)
    with stats.active():
        bn(x + 1.0)  # mean shifted by 1 in both channels: ||(1,1)|| = sqrt 2
    assert stats.loss().item() == pytest.approx(math.sqrt(2), rel=1e-4)
    bn(x * 0)  # outside active(): nothing recorded
    assert stats.loss().item() == pytest.approx(math.sqrt(2), rel=1e-4)


def test_bn_prior_hooks_batchnorm2d_only_not_the_embedding_batchnorm1d():
    """Both references hook nn.BatchNorm2d only; the model's BatchNorm1d after pooling is not a prior."""
    model = create_model("wrn10_2_tiny", 4, embedding_dim=8).eval()
    stats = BatchNormStatistics(model)
    assert stats.layers and all(isinstance(layer, torch.nn.BatchNorm2d) for layer in stats.layers)
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())
    with stats.active():
        model(torch.randn(3, 1, 16, 24))
    assert stats.instance_embedding().shape == (3, sum(layer.num_features for layer in stats.layers))
    stats.remove()


def test_first_bn_multiplier_weights_the_first_layer():
    net = torch.nn.Sequential(torch.nn.BatchNorm2d(1), torch.nn.BatchNorm2d(1)).eval()
    stats = BatchNormStatistics(net, first_multiplier=10.0)
    with stats.active():
        net(torch.ones(2, 1, 2, 2))  # mean 1, var 0 vs running (0, 1): r = 1 + 1 = 2 per layer (2nd sees BN(1))
    assert stats.weights == [10.0, 1.0]
    assert stats.loss().item() == pytest.approx(10 * stats.r_features[0].item() + stats.r_features[1].item())
    assert stats.r_features[0].item() == pytest.approx(2.0, rel=1e-4)


def test_competition_term_behaves_as_js():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    assert competition_loss(logits, logits, 3.0).item() == pytest.approx(1.0)  # JS = 0
    far = competition_loss(torch.tensor([[9.0, -9.0, 0.0]]), torch.tensor([[-9.0, 9.0, 0.0]]), 1.0).item()
    near = competition_loss(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]]), 1.0).item()
    assert far < near < 1.0


def test_adversarial_loss_masks_disagreement():
    s = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    t = torch.tensor([[1.0, 0.0], [2.0, 0.0]])  # agree on sample 0 only
    kl0 = F.kl_div(F.log_softmax(s[:1], 1), F.softmax(t[:1], 1), reduction="sum").item()
    assert adversarial_loss(s, t).item() == pytest.approx(-kl0 / 2, rel=1e-5)


def test_priors_by_hand_are_norms_over_the_whole_batch():
    x = torch.tensor([[[[0.0, 1.0], [0.0, 3.0]]]])  # time diffs (1, 3), freq diffs (0, 2)
    assert total_variation_l2(x).item() == pytest.approx(math.sqrt(10) + 2.0)
    assert l2_norm(x).item() == pytest.approx(math.sqrt(10))
    # two copies: the reference's torch.norm over the batch gives sqrt(2) x, not the per-sample mean
    pair = torch.cat([x, x])
    assert total_variation_l2(pair).item() == pytest.approx(math.sqrt(2) * (math.sqrt(10) + 2.0))
    assert l2_norm(pair).item() == pytest.approx(math.sqrt(20))


def test_reused_backend_losses_vanish_for_a_student_identical_to_its_teacher():
    torch.manual_seed(0)
    teacher = create_model("wrn10_2_tiny", 4, embedding_dim=8).eval()
    student = copy.deepcopy(teacher).eval()
    distiller = ReusedBackendDistiller(teacher, student, 4.0, ReusedBackendWeights())
    terms = distiller.terms(torch.randn(3, 1, 16, 24))
    assert set(terms) == {"kd", "frame", "utterance", "backend_logits"}
    for name, value in terms.items():
        assert value.item() == pytest.approx(0.0, abs=1e-6), name


def test_reused_backend_projection_aligns_widths_and_gets_gradients():
    teacher = create_model("wrn16_2_tiny", 4, embedding_dim=8).eval().requires_grad_(False)
    student = create_model("wrn10_2_tiny", 4, embedding_dim=8)
    distiller = ReusedBackendDistiller(teacher, student, 4.0, ReusedBackendWeights())
    assert isinstance(distiller.frame_proj, torch.nn.Conv1d)
    loss = distiller(torch.randn(3, 1, 16, 24))
    loss.backward()
    assert distiller.frame_proj.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_pool_never_exceeds_its_bound():
    pool = TensorPool(10)
    for i in range(5):
        pool.add(torch.full((4, 1, 2, 3), float(i)))
        assert len(pool) <= 10
    assert len(pool) == 10 and pool.total_added == 20
    kept = pool.sample(10)
    assert set(kept[:, 0, 0, 0].tolist()) <= {2.0, 3.0, 4.0}  # oldest dropped first
    assert pool.nbytes == 10 * 6 * 4


def test_memory_bank_is_a_ring():
    bank = MemoryBank(4, 2)
    bank.add(torch.arange(6, dtype=torch.float32).view(3, 2))
    bank.add(torch.full((2, 2), 9.0))
    assert bank.count == 4 and bank.ptr == 1
    assert bank.data[0].tolist() == [9.0, 9.0]
    assert len(bank.sample(3)) == 3


def test_bn_prior_of_all_layers_at_once_equals_the_per_layer_formula_and_its_gradient():
    """r_feature_vector (every layer's gaps in one zero-padded matrix, one norm per row) gives, value and
    gradient, DeepInversion's per-layer ||mu - mu_BN||_2 + ||var - var_BN||_2 on layers of different widths; a
    layer no pass reached adds nothing."""
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.BatchNorm2d(2), torch.nn.Conv2d(2, 5, 1), torch.nn.BatchNorm2d(5),
                              torch.nn.Conv2d(5, 3, 1), torch.nn.BatchNorm2d(3)).eval()
    for layer in (net[0], net[2], net[4]):
        layer.running_mean.normal_()
        layer.running_var.uniform_(0.5, 2.0)
    stats = BatchNormStatistics(net, first_multiplier=4.0)
    x = torch.randn(6, 2, 3, 4, requires_grad=True)
    with stats.active():
        net(x)
    loss = stats.loss()
    (grad,) = torch.autograd.grad(loss, x)
    x2 = x.detach().clone().requires_grad_()
    h0 = x2
    h2 = net[1](net[0](h0))
    h4 = net[3](net[2](h2))
    expected = []
    for layer, h in zip(stats.layers, (h0, h2, h4)):
        mean, var = h.mean((0, 2, 3)), h.var((0, 2, 3), unbiased=False)
        expected.append(torch.norm(layer.running_mean - mean) + torch.norm(layer.running_var - var))
    reference = 4.0 * expected[0] + expected[1] + expected[2]
    (grad_reference,) = torch.autograd.grad(reference, x2)
    torch.testing.assert_close(torch.stack(stats.r_features), torch.stack(expected).detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss, reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, grad_reference, rtol=1e-4, atol=1e-6)
    stats.moments[1] = None
    assert stats.r_features[1].item() == pytest.approx(0.0, abs=1e-6)
    stats.remove()
