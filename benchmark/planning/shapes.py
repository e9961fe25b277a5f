"""What the planner knows of a dataset without reading it: classes, typical clip length and training-split
size, from each dataset's official description (the paper protocol's held-out split removed)."""
from __future__ import annotations

from dataclasses import dataclass

from ..core.features import FrontEndConfig
from ..data.base import DataConfig


@dataclass(frozen=True)
class DatasetShape:
    name: str
    num_classes: int
    typical_seconds: float  # the median clip: what synthesized clips imitate (DataFreeMethod.synthesized_frames)
    train_clips: int  # clips the supervised cells train on per epoch (validation included: an upper bound)
    source: str  # where the numbers come from
    test_clips: int = 0  # the held-out split the cells are scored on (0: not known to the planner)

    def frames(self, frontend: FrontEndConfig) -> int:
        return frontend.frames(self.typical_seconds)


# ESC-50: 2000 clips of 5 s, 50 classes, 5 folds of 400 (paper protocol: fold 5 held out).
# UrbanSound8K: 8732 clips of at most 4 s (most are 4 s), 10 classes; fold 10 (837 clips) held out.
# AudioMNIST: 30000 clips of at most 1 s (about 0.6 s typical), 10 digits; 6 speakers (3000 clips) held out.
OFFICIAL = {
    "esc50": DatasetShape("esc50", 50, 5.0, 1600, "ESC-50 README: 2000 x 5 s, 50 classes, 5 folds", 400),
    "us8k": DatasetShape("us8k", 10, 4.0, 7895, "UrbanSound8K: 8732 clips <= 4 s, 10 classes, 10 folds", 837),
    "audiomnist": DatasetShape("audiomnist", 10, 0.6, 27000, "AudioMNIST: 30000 clips <= 1 s, 60 speakers", 3000),
}


def _folder_shape(argument: str, data: DataConfig) -> DatasetShape:
    from ..data.folder import folder_shape
    return DatasetShape(*folder_shape(argument, data))


# Prefixed dataset families (benchmark/data/registry.py): their shape is derived from the data itself.
PREFIX_SHAPES = {"folder": _folder_shape}


def dataset_shape(name: str, data: DataConfig) -> DatasetShape:
    """The official description of a real dataset, the embedded synth set as its config makes it, or a prefixed
    dataset (`folder:PATH`) as its files say."""
    if name in OFFICIAL:
        return OFFICIAL[name]
    head, colon, argument = name.partition(":")
    if colon and head in PREFIX_SHAPES:
        return PREFIX_SHAPES[head](argument, data)
    if name == "synth":
        from ..data.synth import CLASSES
        classes = len(CLASSES)
        middle = (data.synth_min_seconds + data.synth_max_seconds) / 2
        return DatasetShape("synth", classes, middle, round(0.7 * data.synth_clips_per_class) * classes,
                            "embedded synth set: lengths between its min and max, 70% train split")
    if name == "synth-long":
        from ..data.synth import CLASSES
        classes = len(CLASSES)
        return DatasetShape("synth-long", classes, data.long_clip_seconds,
                            round(0.7 * data.synth_clips_per_class) * classes,
                            "embedded synth-long set: every clip long_clip_seconds, 70% train split")
    raise ValueError(f"the planner has no description of dataset {name!r}; known: "
                     f"{', '.join([*OFFICIAL, 'synth', 'synth-long'])}, folder:PATH")
