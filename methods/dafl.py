"""DAFL (Chen et al., ICCV 2019) as zju-vipa/CMI runs it: a generator trained with the teacher's one-hot loss,
an activation loss and the information-entropy (class balance) loss; no adversary. The student distils on
fresh generator samples (methods/inversion/generative.py has the loop and the terms).

Reference settings: zju-vipa/CMI scripts/dafl_cifar10.sh (commit 3f791f6) -- batch 256 (l.4), KD lr 0.1 (l.7),
200 epochs (l.8) of 400 KD steps (l.10), 1 generator step then 5 KD steps (l.11, l.9), lr_g 1e-3 (l.12),
adv 0 (l.13), T 20 (l.14), bn 0 (l.15), oh 1 (l.16), act 0.1 (l.17), balance 20 (l.18); nz 512 for DAFL
(datafree_kd.py l.256, commit acbbea6). The script passes `--method zskt` (l.2), which would give nz 256;
we take the code's DAFL value. Spectrogram adaptations: the shared module's (generator in the normalised
log-mel space, activation term on the utterance state after statistics pooling).
"""
from .inversion.generative import GenerativeConfig, GenerativeMethod
from .registry import register_method

register_method("dafl", GenerativeMethod,
                GenerativeConfig(temperature=20.0, nz=512, lr_g=1e-3, kd_steps=5, oh_weight=1.0, act_weight=0.1,
                                 balance_weight=20.0),
                "DAFL: generator with one-hot, activation and class-balance losses; KD on fresh samples, T=20",
                groups=("field",))
