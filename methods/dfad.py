"""DFAD (Fang et al., 2019) as zju-vipa/CMI runs it: an adversarial generator maximising the teacher-student L1
discrepancy of logits, against a student minimising its KD loss on fresh generator samples (the shared loop:
methods/inversion/generative.py).

Reference settings: zju-vipa/CMI scripts/dfad_cifar10.sh (commit 3f791f6) -- batch 256 (l.4), KD lr 0.1 (l.7),
200 epochs (l.8) of 400 KD steps (l.10), 1 generator step then 5 KD steps (l.11, l.9), lr_g 1e-3 (l.12),
adv 1 (l.13), T 1 (l.14), bn/oh/act/balance 0 (l.15-18); the adversarial criterion is torch.nn.L1Loss for
dfad (datafree_kd.py l.259, commit acbbea6) and the student's loss the code base's KLDiv(T) (l.239).
"""
from .inversion.generative import GenerativeConfig, GenerativeMethod
from .registry import register_method

register_method("dfad", GenerativeMethod,
                GenerativeConfig(temperature=1.0, lr_g=1e-3, kd_steps=5, adv_weight=1.0, discrepancy="l1"),
                "DFAD: generator maximising the L1 teacher-student logit gap; KD on fresh samples, T=1",
                groups=("field",))
