"""synth-long (short events in long quiet clips), the sounding span that `length_from=events` synthesizes, and the
hashes that keep records made before these fields valid."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from benchmark.config.cells import Cell, cell_config, config_hash
from benchmark.config.customize import collect_changes, customized
from benchmark.config.presets import PRESETS
from benchmark.core.prepared import sounding_span
from benchmark.core.ranges import ConfigRangeError
from benchmark.data import DATASETS
from benchmark.data.base import DataConfig, hashed_data_config
from benchmark.data.synth import CLASSES, render_clip
from benchmark.data.synth_long import SILENT_SHARE, build_long_waveforms, long_spec
from benchmark.planning.shapes import dataset_shape
from methods import build_method, method_config
from methods.base import result_fields
from tests.helpers import log_mel_with_loud_frames, prepared_from, three_events_in_60_frames

SMALL = DataConfig(sample_rate=8000, synth_clips_per_class=6, long_clip_seconds=1.0, long_event_seconds=(0.1, 0.2))


@pytest.fixture(scope="module")
def waves():
    return build_long_waveforms(long_spec(SMALL))


def test_every_clip_is_the_long_length_with_one_short_event_in_it(waves):
    spec = long_spec(SMALL)
    assert len(waves) == len(CLASSES) * SMALL.synth_clips_per_class
    for k, wave in enumerate(waves):
        assert wave.shape == (8000,) and np.isfinite(wave).all()
        event = render_clip(spec.event, k // 6, k % 6)
        assert 0.1 * 8000 <= len(event) <= 0.2 * 8000
        # the event sits somewhere in the clip: the loud samples span at most the event's length
        loud = np.flatnonzero(np.abs(wave) > 0.5 * np.abs(event).max())
        assert loud[-1] - loud[0] < len(event)


def test_about_half_the_backgrounds_are_digital_silence_and_the_rest_low_noise(waves):
    spec = long_spec(SMALL)
    silent = 0
    for k, wave in enumerate(waves):
        event = render_clip(spec.event, k // 6, k % 6)
        outside = np.abs(wave) * (np.abs(wave) < 1e-9)
        quiet = np.sort(np.abs(wave))[: len(wave) - len(event)]  # the samples no event covers, at most
        if np.count_nonzero(quiet) == 0:
            silent += 1
        else:  # low noise: at least 30 dB below the event's peak
            assert quiet.max() <= np.abs(event).max() * 10 ** (-30 / 20) * 1.01
        assert outside.sum() == 0
    assert abs(silent / len(waves) - SILENT_SHARE) < 0.2


def test_the_set_is_registered_deterministic_and_split_like_synth():
    first, second = DATASETS.get("synth-long")(SMALL), DATASETS.get("synth-long")(SMALL)
    assert first.name == "synth-long" and first.class_names == [c.name for c in CLASSES]
    assert [c.split for c in first.clips] == [c.split for c in DATASETS.get("synth")(SMALL).clips]
    for clip in first.clips[:12]:
        np.testing.assert_array_equal(first.load(clip), second.load(clip))
    assert first.description["spec"]["clip_seconds"] == 1.0


def test_the_planner_counts_synth_long_clips_at_their_full_length():
    shape = dataset_shape("synth-long", SMALL)
    assert shape.typical_seconds == 1.0 and shape.num_classes == 10


def test_event_longer_than_the_clip_is_refused_before_work():
    with pytest.raises(ConfigRangeError, match="long_event_seconds"):
        customized(PRESETS.get("micro"), collect_changes(None, ["data.long_event_seconds=[0.5, 6.0]"]))


# --- the sounding span -----------------------------------------------------------------------------------------


def test_the_span_runs_from_the_first_to_the_last_frame_within_the_threshold():
    clip = log_mel_with_loud_frames(50, slice(10, 20), quiet_db=40)
    assert sounding_span(clip, 30.0) == 10
    clip[:, 35] = 0.0  # a second loud frame later on: the span reaches it
    assert sounding_span(clip, 30.0) == 26
    # background only 20 dB down counts as sounding at 30 dB: the whole clip
    assert sounding_span(log_mel_with_loud_frames(50, slice(10, 20), quiet_db=20), 30.0) == 50


def test_typical_event_frames_is_the_median_span_of_the_raw_training_clips():
    data = three_events_in_60_frames()
    assert data.typical_frames() == 60
    assert data.typical_event_frames() == 8


@pytest.mark.parametrize("length_from, expected", [("clips", 2 * 60), ("events", 2 * 8)])
def test_length_from_sets_the_synthesized_length(length_from, expected):
    class Ctx:
        data = three_events_in_60_frames()

    preset = customized(PRESETS.get("micro"), collect_changes(None, [f"data_free.length_from={length_from}"]))
    method = build_method("frami", method_config("frami", preset))
    assert method.config.length_factor == 2.0
    assert method.synthesized_frames(Ctx) == expected


def test_the_synth_set_synthesizes_the_same_length_either_way():
    """On `synth` the background noise fills every clip, so `events` changes nothing there."""
    from benchmark.execution.grid import SweepSpec
    from benchmark.execution.loading import DataProvider
    preset = PRESETS.get("micro")
    data = DataProvider(SweepSpec(preset, ("synth",), (("wrn16_2_tiny", "wrn10_2_tiny"),), ("kd",), (0,))).get("synth")
    assert data.typical_event_frames() == data.typical_frames()


# --- hashes of records made before the fields ------------------------------------------------------------------

def test_new_fields_at_their_legacy_values_leave_the_hashed_config_as_it_was():
    legacy_data = {k: v for k, v in hashed_data_config(DataConfig()).items()}
    assert "long_clip_seconds" not in legacy_data and "long_event_seconds" not in legacy_data
    assert hashed_data_config(replace(DataConfig(), long_clip_seconds=4.0))["long_clip_seconds"] == 4.0
    adi = method_config("adi", PRESETS.get("cpu"))
    assert "length_from" not in result_fields(adi)
    assert result_fields(replace(adi, length_from="events"))["length_from"] == "events"


def test_the_committed_cpu_records_hash_as_they_did():
    """Recompute the config hash of a committed record from today's code: the new fields must not move it."""
    import json
    from pathlib import Path
    line = next(json.loads(row) for row in Path("results/runs.jsonl").read_text().splitlines()
                if json.loads(row)["method"] == "adi")
    cell = Cell(line["dataset"], line["teacher"], line["student"], line["method"], line["seed"])
    assert config_hash(cell_config(cell, PRESETS.get("cpu"))) == line["config_hash"]


# --- the KD canvas ---------------------------------------------------------------------------------------------

def test_place_in_canvas_keeps_each_clip_whole_at_its_own_offset_in_zeros():
    from methods.inversion.augment import place_in_canvas
    x = torch.arange(1, 1 + 4 * 2 * 3, dtype=torch.float32).view(4, 1, 2, 3)
    y = place_in_canvas(x, 8, torch.Generator().manual_seed(1))
    assert y.shape == (4, 1, 2, 8)
    offsets = []
    for clip, placed in zip(x, y):
        start = int(torch.nonzero(placed[0, 0]).flatten()[0])
        offsets.append(start)
        torch.testing.assert_close(placed[..., start:start + 3], clip)
        assert placed.abs().sum() == clip.abs().sum()  # zeros elsewhere
    assert len(set(offsets)) > 1 and all(0 <= o <= 5 for o in offsets)
    assert place_in_canvas(x, 3) is x  # already as long: unchanged


def test_the_canvas_passes_gradients_to_the_clip_unchanged():
    from methods.inversion.augment import place_in_canvas
    x = torch.randn(3, 1, 2, 4, requires_grad=True)
    weights = torch.randn(3, 1, 2, 10)
    (place_in_canvas(x, 10, torch.Generator().manual_seed(0)) * weights).sum().backward()
    placed = place_in_canvas(torch.ones_like(x), 10, torch.Generator().manual_seed(0))
    expected = torch.stack([w[..., p.bool()[0, 0]] for w, p in zip(weights, placed)])
    torch.testing.assert_close(x.grad, expected)


def test_kd_canvas_is_unhashed_while_off():
    adi = method_config("adi", PRESETS.get("cpu"))
    assert "kd_canvas" not in result_fields(adi)
    assert result_fields(replace(adi, kd_canvas="silence"))["kd_canvas"] == "silence"


def test_the_silence_canvas_is_digital_silence_as_the_normalised_front_end_renders_it():
    from types import SimpleNamespace

    from methods.inversion.augment import place_in_canvas
    from methods.inversion.loop import kd_canvas
    data = three_events_in_60_frames()
    ctx = SimpleNamespace(data=data, device=torch.device("cpu"))
    adi = method_config("adi", PRESETS.get("micro"))
    assert kd_canvas(adi, ctx) is None
    mean = kd_canvas(replace(adi, kd_canvas="mean"), ctx)
    assert mean.frames == 60 and mean.fill is None
    silence = kd_canvas(replace(adi, kd_canvas="silence"), ctx)
    expected = (math.log(data.frontend.log_offset) - data.normaliser.mean) / data.normaliser.std  # by hand
    torch.testing.assert_close(silence.fill, expected)
    placed = place_in_canvas(torch.full((2, 1, 4, 3), 7.0), 10, torch.Generator().manual_seed(0), silence.fill)
    outside = placed[placed != 7.0].view(2, 1, 4, 7)
    torch.testing.assert_close(outside, expected.expand(2, 1, 4, 7))


def test_kd_subset_at_event_length_crops_each_clip_around_its_sounding_span():
    from methods.controls import RealSubsetSynthesizer
    clips = [log_mel_with_loud_frames(60, slice(start, start + 6), quiet_db=45) for start in (0, 20, 52)]
    data = prepared_from(clips)
    around = RealSubsetSynthesizer(data.train, 3, 10, torch.device("cpu"), 0, data.normaliser)
    for clip in clips:
        cropped = data.normaliser.invert(around.crop(data.normaliser(clip)))
        assert cropped.shape == (4, 10)
        assert (cropped.mean(0) > -1).sum() == 6  # the whole event is inside the window
    # without the normaliser: a random crop, which misses a 6-frame event in 60 frames most of the time
    anywhere = RealSubsetSynthesizer(data.train, 3, 10, torch.device("cpu"), 0)
    hits = [bool((data.normaliser.invert(anywhere.crop(data.train.features[1])).mean(0) > -1).any())
            for _ in range(50)]
    assert 0 < sum(hits) < 40


def test_adi_silence_init_starts_every_input_at_digital_silence_plus_small_noise():
    """With a vanishing step size the kept batch is where the inputs started: the silence fill + N(0, 0.1^2)."""
    from types import SimpleNamespace

    from methods.adi import SILENCE_INIT_STD
    from methods.inversion.scene import silence_fill
    from models import create_model
    data = three_events_in_60_frames()
    preset = customized(PRESETS.get("micro"), collect_changes(None, ["adi.init=silence", "adi.input_lr=1e-12",
                                                                     "data_free.synth_batch=64"]))
    config = method_config("adi", preset)
    ctx = SimpleNamespace(data=SimpleNamespace(num_classes=3, n_mels=4, normaliser=data.normaliser,
                                               frontend=data.frontend), device=torch.device("cpu"), seed=0)
    teacher = create_model("wrn10_2_tiny", 3, 16).eval()
    student = create_model("wrn10_2_tiny", 3, 16).eval()
    synthesizer = build_method("adi", config).make_synthesizer(ctx, teacher, student, 20)
    batch = synthesizer.synthesize()
    fill = silence_fill(data, torch.device("cpu"))
    assert batch.shape == (64, 1, 4, 20)
    torch.testing.assert_close(batch.mean(dim=(0, 1, 3)), fill.flatten(), atol=0.02, rtol=0)
    assert abs(float((batch - fill).std()) - SILENCE_INIT_STD) < 0.01
