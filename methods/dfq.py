"""DFQ (Choi et al., 2020) as zju-vipa/CMI's `dfq` scripts run it: a generator trained with the BN-statistics
prior, the teacher's one-hot loss, the class-balance loss and an adversarial KL term; the student distils on
fresh generator samples (the shared loop: methods/inversion/generative.py).

Reference settings: zju-vipa/CMI scripts/dfq/dfq_cifar10_wrn402_wrn161.sh (commit 6c02927; the WRN pair, as the
paper's) -- batch 256 (l.4), KD lr 0.1 (l.7), 200 epochs (l.8) of 400 KD steps (l.10), 1 generator step then
10 KD steps (l.11, l.9), lr_g 1e-3 (l.12), adv 1 (l.13), T 20 (l.14), bn 1 (l.15), oh 1 (l.16), act 0
(l.17), balance 20 (l.18); the adversarial criterion KLDiv() at T=1 (datafree_kd.py l.259, commit acbbea6).
200 x 400 / 10 = 8000 rounds, validation every 40 (once an epoch).
"""
from .inversion.generative import GenerativeConfig, GenerativeMethod
from .registry import register_method

register_method("dfq", GenerativeMethod,
                GenerativeConfig(temperature=20.0, lr_g=1e-3, rounds=8000, kd_steps=10, eval_every=40,
                                 adv_weight=1.0, discrepancy="kl", bn_weight=1.0, oh_weight=1.0, balance_weight=20.0),
                "DFQ: generator with BN prior, one-hot, balance and adversarial (KL) terms; KD on fresh samples, T=20",
                groups=("field",))
