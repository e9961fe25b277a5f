"""ZSKT (Micaelli & Storkey, NeurIPS 2019): an adversarial generator maximising KL(teacher || student), against a
student minimising KD plus attention transfer on the trunk's stages (the shared loop:
methods/inversion/generative.py; attention transfer: methods/inversion/attention.py).

Reference settings: zju-vipa/CMI scripts/zskt_cifar10.sh (commit 3f791f6) -- batch 256 (l.4), KD lr 0.1
(l.7), 200 epochs (l.8) of 400 KD steps (l.10), 1 generator step then 5 KD steps (l.11, l.9), lr_g 1e-3
(l.12), adv 1 (l.13), T 20 (l.14), bn/oh/act/balance 0 (l.15-18); the adversarial criterion KLDiv() at T=1
(datafree_kd.py l.259, commit acbbea6). The CMI code base distils logits only; ZSKT's own code adds attention
transfer with beta 250 (polo5/ZeroShotKnowledgeTransfer main.py l.59; solver.py l.197-211 and l.231-234),
which we add to the student's loss. Both trunks must be of one family (main.py l.73): the paper's pairs are.
"""
from .inversion.generative import GenerativeConfig, GenerativeMethod
from .registry import register_method

register_method("zskt", GenerativeMethod,
                GenerativeConfig(temperature=20.0, lr_g=1e-3, kd_steps=5, adv_weight=1.0, discrepancy="kl",
                                 at_weight=250.0),
                "ZSKT: adversarial generator (KL) vs a student with KD + attention transfer on trunk stages, T=20",
                groups=("field",))
