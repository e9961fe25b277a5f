"""Behaviour that ties each method to its reference: which terms move the generator, how hard,
which targets and optimizer ADI uses, how the pool is read at KD time, and that a shared
teacher is never changed in place."""
import torch
import torch.nn.functional as F

from methods.adi import ADIConfig, DeepInversionSynthesizer
from methods.cmi import CMIConfig, ContrastiveSynthesizer
from methods.frami import FeatureInvarianceSynthesizer, FRAMIConfig
from methods.inversion.augment import ViewConfig, kd_view, roll_time_per_sample
from methods.inversion.loop import DataFreeConfig, channels_last_copy, draw_kd_batch
from methods.inversion.pool import TensorPool
from models import create_model

# "off": these tests differentiate step_terms directly; under "passes" the passes are leaves and the
# gradient reaches the generator through StepMemory.backward (equality: tests/test_memory_bound.py)
SMALL = dict(synth_batch=8, iterations=1, nz=16, generator_width=8, bank_size=32, n_negatives=16,
             checkpointing="off")


def _pair():
    torch.manual_seed(0)
    teacher = create_model("wrn10_2_tiny", 4, embedding_dim=8).eval().requires_grad_(False)
    student = create_model("wrn10_2_tiny", 4, embedding_dim=8).eval()
    return teacher, student


def _contrastive_grad_norm(synth, detach_t_finv: bool = False) -> tuple[float, dict]:
    """Norm of d(cr_weight * L_cr)/d(generator) on round 1's first step (empty memory bank)."""
    if detach_t_finv:
        t_finv = synth.t_finv
        synth.t_finv = lambda x: t_finv(x).detach()
    torch.manual_seed(1)
    synth.generator.reset()
    z = torch.randn(synth.cfg.synth_batch, synth.cfg.nz, generator=torch.Generator().manual_seed(2))
    y = torch.arange(synth.cfg.synth_batch) % 4
    with synth.bn.active():
        terms, _, _ = synth.step_terms(z, y)
    grads = torch.autograd.grad(synth.cfg.cr_weight * terms["cr"], list(synth.generator.parameters()),
                                allow_unused=True)
    synth.close()
    return torch.sqrt(sum((g ** 2).sum() for g in grads if g is not None)).item(), terms


def _synthesizers(frames: int = 32):
    teacher, student = _pair()
    cmi = ContrastiveSynthesizer(CMIConfig(**SMALL), teacher, student, 4, 16, frames, torch.device("cpu"), 0)
    frami = FeatureInvarianceSynthesizer(FRAMIConfig(**SMALL, num_chunks=2), teacher, student, 4, 16, frames,
                                         torch.device("cpu"), 0)
    return cmi, frami


def test_frami_and_cmi_contrastive_gradients_are_comparable_on_the_same_batch():
    """Same teacher, generator init, z and views: the generator's gradient through the view
    similarities of FRAMI's Eq. 2 is within 3x of CMI's (a saturated softmax made it vanish)."""
    cmi, frami = _synthesizers()
    cmi_norm, _ = _contrastive_grad_norm(cmi)
    frami_norm, terms = _contrastive_grad_norm(frami, detach_t_finv=True)
    assert terms["t_finv"].item() > 0.5  # high chunk similarity: where the old form saturated
    assert 1 / 3 < frami_norm / cmi_norm < 3, (frami_norm, cmi_norm)


def test_t_finv_moves_the_generator():
    """The invariance term is on: cutting its path changes the generator's gradient."""
    _, frami = _synthesizers()
    with_path, _ = _contrastive_grad_norm(frami)
    _, frami = _synthesizers()
    without_path, _ = _contrastive_grad_norm(frami, detach_t_finv=True)
    assert abs(with_path - without_path) > 1e-3 * without_path


def test_no_finv_ablation_is_eq2_with_t_finv_zero():
    """`frami-no-finv` keeps Eq. 2's denominator; only T_finv is removed."""
    cmi, _ = _synthesizers()
    teacher, student = _pair()
    no_finv = FeatureInvarianceSynthesizer(FRAMIConfig(**SMALL, feature_invariance=False), teacher, student, 4, 16,
                                           32, torch.device("cpu"), 0)
    local = F.normalize(torch.randn(4, 6), dim=1)
    global_ = F.normalize(torch.randn(4, 6), dim=1)
    x = torch.randn(4, 1, 16, 32)
    terms = no_finv.contrastive_terms(local, global_, 4, x)
    assert "t_finv" not in terms
    cos = local @ global_.T / no_finv.cfg.cr_temperature
    off = cos.masked_fill(torch.eye(4, dtype=torch.bool), float("-inf"))
    expected = (torch.logsumexp(off, 1) - cos.diagonal()).mean()
    torch.testing.assert_close(terms["cr"], expected)
    assert not torch.allclose(cmi.contrastive_terms(local, global_, 4, x)["cr"], expected)


def test_adi_uses_balanced_targets_and_plain_adam_without_schedule():
    teacher, student = _pair()
    cfg = ADIConfig(synth_batch=10, iterations=2)
    synth = DeepInversionSynthesizer(cfg, teacher, student, 4, (1, 16, 24), torch.device("cpu"), 0)
    assert synth.targets().tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    opt = synth.input_optimizer(torch.zeros(2, requires_grad=True))
    assert opt.param_groups[0]["betas"] == (0.9, 0.999) and opt.param_groups[0]["lr"] == cfg.input_lr
    batch = synth.synthesize()
    assert batch.shape == (10, 1, 16, 24) and synth.last_targets.tolist() == synth.targets().tolist()
    synth.close()


def test_per_clip_time_roll_by_hand():
    x = torch.arange(2 * 5, dtype=torch.float32).view(2, 1, 1, 5)
    gen = torch.Generator().manual_seed(0)
    rolled = roll_time_per_sample(x, 2, gen)
    shifts = torch.randint(-2, 3, (2,), generator=torch.Generator().manual_seed(0))
    for i in range(2):
        torch.testing.assert_close(rolled[i], torch.roll(x[i], int(shifts[i]), dims=-1))


def test_kd_batches_are_augmented_when_the_config_says_so():
    pool = TensorPool(16)
    pool.add(torch.randn(16, 1, 8, 20))
    on, off = DataFreeConfig(kd_batch=16), DataFreeConfig(kd_batch=16, kd_augment=False)
    assert CMIConfig().kd_augment and FRAMIConfig().kd_augment and ADIConfig().kd_augment
    plain = draw_kd_batch(pool, off, torch.Generator().manual_seed(3), torch.device("cpu"))
    augmented = draw_kd_batch(pool, on, torch.Generator().manual_seed(3), torch.device("cpu"))
    assert plain.shape == augmented.shape == (16, 1, 8, 20)
    assert not torch.equal(plain, augmented)
    # the same draw of clips, then kd_view: augmentation changes views, never which clips are drawn
    gen = torch.Generator().manual_seed(3)
    again = pool.sample(16, gen)
    torch.testing.assert_close(again, plain)
    torch.testing.assert_close(kd_view(again, ViewConfig(), gen), augmented)


def test_channels_last_copy_leaves_the_shared_teacher_unchanged():
    teacher, _ = _pair()
    conv = next(m for m in teacher.modules() if isinstance(m, torch.nn.Conv2d))
    copy = channels_last_copy(teacher)
    copied_conv = next(m for m in copy.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous()  # the cached teacher keeps its layout
    assert copied_conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert copy is not teacher


def test_synthesis_computes_no_student_weight_gradients_and_leaves_it_trainable():
    teacher, student = _pair()
    synth = ContrastiveSynthesizer(CMIConfig(**SMALL, adv_weight=0.5), teacher, student, 4, 16, 32,
                                   torch.device("cpu"), 0)
    synth.synthesize()
    synth.close()
    params = list(student.parameters())
    assert all(p.requires_grad for p in params)  # restored for the KD steps
    assert all(p.grad is None for p in params)  # the adversarial term reached the inputs only
