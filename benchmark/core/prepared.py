"""A dataset made ready for models: normalised log-mel FeatureSets for train/val/test."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .features import FeatureSet, FrontEndConfig, Normaliser

EVENT_BELOW_PEAK_DB = 30.0  # synth: equal to the clip length (76 frames at the cpu preset); synth-long: 34 of 251
NATURAL_LOG_TO_DB = 10.0 / math.log(10.0)  # the front end's log is natural: 10 log10(p) = ln(p) * 10 / ln 10


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

    def typical_event_frames(self, below_peak_db: float = EVENT_BELOW_PEAK_DB) -> int:
        """Median length in frames of the training clips' sounding span: from the first to the last frame whose
        mel power is within `below_peak_db` of the clip's loudest frame. Equal to `typical_frames` where sound
        fills the clips (the `synth` set, whose background noise sits at most 9 dB under the event); far shorter
        where a short event sits in a long quiet clip (ESC-50, `synth-long`)."""
        spans = [sounding_span(self.normaliser.invert(f), below_peak_db) for f in self.train.features]
        return int(torch.tensor(spans, dtype=torch.float32).median().item())


def sounding_bounds(log_mel: torch.Tensor, below_peak_db: float = EVENT_BELOW_PEAK_DB) -> tuple[int, int]:
    """[first, last + 1) of the frames whose mean mel power (dB) is within `below_peak_db` of the loudest."""
    frame_db = (torch.logsumexp(log_mel, dim=0) - math.log(log_mel.shape[0])) * NATURAL_LOG_TO_DB
    active = torch.nonzero(frame_db >= frame_db.max() - below_peak_db).flatten()
    return int(active[0]), int(active[-1]) + 1


def sounding_span(log_mel: torch.Tensor, below_peak_db: float = EVENT_BELOW_PEAK_DB) -> int:
    """Frames from the first to the last whose mean mel power (dB) is within `below_peak_db` of the loudest."""
    first, end = sounding_bounds(log_mel, below_peak_db)
    return end - first


