"""A dataset made ready for models: normalised log-mel FeatureSets for train/val/test."""
from __future__ import annotations

from dataclasses import dataclass

from .data.base import ClipSet
from .data.features import FeatureSet, FrontEndConfig, Normaliser


@dataclass
class PreparedData:
    name: str
    class_names: list[str]
    class_kinds: list[str] | None
    frontend: FrontEndConfig
    normaliser: Normaliser
    train: FeatureSet
    val: FeatureSet
    test: FeatureSet
    description: dict
    # the feature cache entry these came from (feature_cache.features_key): names the audio content, so it keys
    # teachers and is recorded with every result (RunRecord.data_key)
    features_key: str | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_mels(self) -> int:
        return self.frontend.n_mels

    def typical_frames(self) -> int:
        """Median training clip length in frames: the length synthesized clips imitate."""
        return int(self.train.lengths.float().median().item())


def normalise(split: FeatureSet, normaliser: Normaliser) -> FeatureSet:
    return FeatureSet([normaliser(f) for f in split.features], split.labels, split.ids)


def prepare(clipset: ClipSet, frontend: FrontEndConfig, extract, features_key: str | None = None) -> PreparedData:
    """`extract(clipset, split)` returns the raw FeatureSet (possibly from the feature cache, whose entry
    `features_key` names)."""
    raw = {s: extract(clipset, s) for s in ("train", "val", "test")}
    normaliser = Normaliser.fit(raw["train"])
    return PreparedData(clipset.name, clipset.class_names, clipset.class_kinds, frontend, normaliser,
                        *(normalise(raw[s], normaliser) for s in ("train", "val", "test")), clipset.description,
                        features_key)
