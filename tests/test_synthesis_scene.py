"""Synthesis scenes (methods/inversion/scene.py): a short synthesized event at a random offset
in a clip-length background, which the teacher sees and the pool keeps."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import torch

from benchmark.config.customize import collect_changes, customized
from benchmark.config.presets import PRESETS
from benchmark.core.ranges import ConfigRangeError
from methods import build_method, method_config
from methods.base import result_fields
from methods.inversion.augment import place_in_canvas
from methods.inversion.scene import SynthesisScene, make_scene, silence_fill
from models import create_model
from tests.helpers import three_events_in_60_frames  # clips of 60 frames, median event span 8


def test_a_background_canvas_holds_the_event_at_its_offset_and_the_background_elsewhere():
    event = torch.arange(1.0, 7.0).view(1, 1, 2, 3).repeat(2, 1, 1, 1)  # (2, 1, 2, 3)
    background = torch.full((2, 1, 2, 8), -5.0, requires_grad=True)
    out = place_in_canvas(event, 8, torch.Generator().manual_seed(0), background=background)
    for b in range(2):
        row = out[b, 0, 0]
        start = int(torch.nonzero(row != -5.0)[0])
        assert row[start:start + 3].tolist() == [1.0, 2.0, 3.0]
        assert (row[:start] == -5.0).all() and (row[start + 3:] == -5.0).all()
    out.sum().backward()
    # the background gets a gradient of 1 where no event covers it and 0 under the event: 5 of 8 frames each
    assert background.grad.sum().item() == 2 * 2 * 5
    assert set(background.grad.unique().tolist()) == {0.0, 1.0}


def _scene(kind: str, batch: int = 4, frames: int = 12) -> SynthesisScene:
    silence = torch.tensor([[-2.0], [-3.0]])
    return SynthesisScene(kind, batch, frames, silence, lr=0.1, generator=torch.Generator().manual_seed(0))


def test_the_silence_scene_is_digital_silence_around_the_event_and_learns_nothing():
    scene = _scene("silence")
    out = scene(torch.zeros(4, 1, 2, 3))
    assert out.shape == (4, 1, 2, 12)
    assert ((out == 0) | (out == -2.0) | (out == -3.0)).all()
    assert (out[:, :, 0] == -2.0).sum() == 4 * 9 and (out[:, :, 1] == -3.0).sum() == 4 * 9
    assert not any(p.requires_grad for p in scene.parameters()) and scene.optimizer is None


def test_the_learned_background_starts_at_silence_moves_under_a_loss_and_resets():
    scene = _scene("learned")
    torch.testing.assert_close(scene.background()[:, 0, :, 0], torch.tensor([[-2.0, -3.0]] * 4))
    for _ in range(5):  # a loss on the scene (the event itself is fixed): the background must follow it
        scene.zero_grad_()
        scene(torch.zeros(4, 1, 2, 3)).pow(2).mean().backward()
        assert scene.level.grad.abs().sum() > 0 and scene.texture.grad is not None
        scene.step()
    assert (scene.level[:, 0, :, 0] > torch.tensor([-2.0, -3.0])).all()  # towards 0, by Adam steps of 0.1
    scene.reset()
    torch.testing.assert_close(scene.level[:, 0, :, 0], torch.tensor([[-2.0, -3.0]] * 4))
    assert (scene.texture == 0).all()


def test_no_scene_when_off_or_when_the_events_are_as_long_as_the_clips():
    data = three_events_in_60_frames()
    cpu = torch.device("cpu")
    assert make_scene("off", 4, data, 8, 0.1, cpu) is None
    assert make_scene("learned", 4, data, 60, 0.1, cpu) is None
    scene = make_scene("silence", 4, data, 8, 0.1, cpu)
    assert scene.frames == 60
    torch.testing.assert_close(scene.silence, silence_fill(data, cpu))


def _ctx(data):
    return SimpleNamespace(data=SimpleNamespace(num_classes=3, n_mels=4, normaliser=data.normaliser,
                                                frontend=data.frontend, typical_frames=data.typical_frames),
                           device=torch.device("cpu"), seed=0)


@pytest.mark.parametrize("method", ["adi", "cmi", "frami"])
def test_a_synthesizer_in_a_learned_scene_returns_clip_length_batches_and_moves_the_background(method):
    data = three_events_in_60_frames()
    preset = customized(PRESETS.get("micro"), collect_changes(None, [
        "data_free.length_from=events", "data_free.scene=learned", "data_free.synth_batch=4"]))
    config = dataclasses.replace(method_config(method, preset), iterations=2)
    assert config.scene == "learned"
    torch.manual_seed(0)
    teacher = create_model("wrn10_2_tiny", 3, 16).eval().requires_grad_(False)
    student = create_model("wrn10_2_tiny", 3, 16).eval()
    synthesizer = build_method(method, config).make_synthesizer(_ctx(data), teacher, student, 8)
    batch = synthesizer.synthesize()
    synthesizer.close()
    assert batch.shape == (4, 1, 4, 60)  # the scene, not the 8-frame event, enters the pool
    silence = silence_fill(data, torch.device("cpu"))
    moved = (synthesizer.scene.level[:, 0] - silence).abs().amax()
    assert moved > 0  # the synthesis losses reached the background and Adam stepped it


def test_in_a_silence_scene_each_kept_clip_is_digital_silence_but_for_one_event_length_stretch():
    data = three_events_in_60_frames()
    preset = customized(PRESETS.get("micro"), collect_changes(None, [
        "data_free.length_from=events", "data_free.scene=silence", "data_free.synth_batch=4"]))
    config = dataclasses.replace(method_config("adi", preset), iterations=2)
    teacher = create_model("wrn10_2_tiny", 3, 16).eval().requires_grad_(False)
    student = create_model("wrn10_2_tiny", 3, 16).eval()
    synthesizer = build_method("adi", config).make_synthesizer(_ctx(data), teacher, student, 8)
    batch = synthesizer.synthesize()
    synthesizer.close()
    silence = silence_fill(data, torch.device("cpu"))
    sounding = ((batch - silence).abs() > 1e-6).any(dim=2)[:, 0]  # (4, 60): frames that are not silence
    for row in sounding:
        frames = torch.nonzero(row).flatten()
        # one stretch of at most 8 frames (the jitter roll may wrap it around the clip's end)
        assert 0 < len(frames) <= 8
        assert frames[-1] - frames[0] < 8 or len(frames) == 8


def test_a_scene_needs_event_length_synthesis_and_is_refused_otherwise_before_work():
    with pytest.raises(ConfigRangeError, match="length_from"):
        method_config("adi", customized(PRESETS.get("micro"), collect_changes(None, ["data_free.scene=silence"])))
    with pytest.raises(ConfigRangeError, match="scene"):
        method_config("cmi", customized(PRESETS.get("micro"), collect_changes(None, [
            "data_free.length_from=events", "data_free.scene=sky"])))


def test_the_scene_reaches_adi_cmi_and_frami_only():
    preset = customized(PRESETS.get("micro"), collect_changes(None, [
        "data_free.length_from=events", "data_free.scene=learned"]))
    for method in ("adi", "cmi", "frami"):
        assert method_config(method, preset).scene == "learned"
    for method in ("fast", "dafl", "kd-noise"):
        assert not hasattr(method_config(method, preset), "scene")


def test_scene_fields_are_unhashed_while_off():
    config = method_config("frami", PRESETS.get("cpu"))
    assert "scene" not in result_fields(config) and "scene_lr" not in result_fields(config)
    on = dataclasses.replace(config, length_from="events", scene="learned")
    assert result_fields(on)["scene"] == "learned"


def test_the_mixed_scene_keeps_every_other_background_silent_and_learns_the_rest():
    scene = _scene("mixed")
    for _ in range(3):
        scene.zero_grad_()
        scene(torch.zeros(4, 1, 2, 3)).pow(2).mean().backward()
        scene.step()
    background = scene.background()
    silence = torch.tensor([-2.0, -3.0]).view(1, 2, 1)
    assert (background[0::2, 0] == silence).all()  # samples 0 and 2: digital silence, untouched
    assert (background[1::2, 0] > silence).float().mean() > 0.5  # samples 1 and 3: moved towards the loss's 0
    assert (scene.level.grad[0::2] == 0).all() and (scene.level.grad[1::2] != 0).any()
