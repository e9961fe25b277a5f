"""Teachers in, students out: checkpoints that load weights-only and classify audio,
`run --save-models` and `run --teacher-checkpoint`."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark import load_student
from benchmark.checkpoints.model_io import FORMAT, InvalidCheckpoint, ModelCheckpoint, read_checkpoint, save_checkpoint
from benchmark.cli import main as cli_main
from benchmark.config.presets import PRESETS
from benchmark.core.features import FrontEndConfig, LogMel, Normaliser
from benchmark.store.records import RunStore
from models import create_model

MICRO = PRESETS.get("micro")
ARCH = "wrn16_2_tiny"


def _checkpoint(num_classes: int = 10, frontend: FrontEndConfig = MICRO.frontend, seed: int = 0) -> ModelCheckpoint:
    torch.manual_seed(seed)
    model = create_model(ARCH, num_classes, MICRO.embedding_dim).eval()
    n_mels = frontend.n_mels
    normaliser = Normaliser(torch.randn(n_mels, 1), torch.rand(n_mels, 1) + 0.5)
    return ModelCheckpoint(ARCH, [f"class{i}" for i in range(num_classes)], MICRO.embedding_dim, frontend, normaliser,
                           model.state_dict(), 61.5, 58.25, {"dataset": "synth", "method": "teacher", "seed": seed})


def test_save_then_load_gives_identical_predictions_and_classifies_audio(tmp_path):
    saved = _checkpoint()
    path = tmp_path / "m.pt"
    save_checkpoint(path, saved)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left behind
    loaded = load_student(path)
    assert not loaded.model.training and loaded.class_names == saved.class_names
    assert loaded.frontend == saved.frontend and loaded.checkpoint.test_accuracy == 58.25
    original = saved.build_model()
    x = torch.randn(3, 1, saved.frontend.n_mels, 40)
    assert torch.equal(original(x), loaded.model(x))
    # classify: raw audio -> log-mel -> the saved normaliser -> the model, the same as doing it by hand
    wave = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    by_hand = original(saved.normaliser(LogMel(saved.frontend)(torch.from_numpy(wave)))[None, None]).softmax(-1)[0]
    probs = loaded.classify(wave, saved.frontend.sample_rate)
    assert list(probs) == saved.class_names
    assert np.allclose(list(probs.values()), by_hand.detach().numpy(), atol=1e-6)
    # another rate is resampled to the front end's
    assert abs(sum(loaded.classify(np.concatenate([wave, wave]), 32000).values()) - 1) < 1e-5


class _Payload:
    """Unpickling this would run os.system: a weights-only load must refuse it without running it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_the_loader_refuses_a_pickled_object_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    blob = _checkpoint().to_blob() | {"identity": {"evil": _Payload(marker)}}
    path = tmp_path / "evil.pt"
    torch.save(blob, path)
    with pytest.raises(InvalidCheckpoint, match="refused without unpickling") as err:
        load_student(path)
    assert str(path) in str(err.value) and not marker.exists()


@pytest.mark.parametrize("content, why", [(b"not a torch file", "torch cannot read it"),
                                          (None, "expected a dict with format")])
def test_a_file_that_is_not_a_checkpoint_fails_with_its_path(tmp_path, content, why):
    path = tmp_path / "x.pt"
    if content is None:
        torch.save({"state_dict": {}}, path)  # a torch file of another layout (e.g. a teacher cache entry)
    else:
        path.write_bytes(content)
    with pytest.raises(InvalidCheckpoint, match=why) as err:
        read_checkpoint(path)
    assert str(path) in str(err.value)


def test_weights_of_another_shape_are_refused_naming_the_architecture(tmp_path):
    blob = _checkpoint().to_blob()
    blob["state_dict"] = create_model(ARCH, 3, MICRO.embedding_dim).state_dict()  # 3 classes' head, 10 names
    torch.save(blob, tmp_path / "m.pt")
    with pytest.raises(InvalidCheckpoint, match=f"do not fit {ARCH} with 10 classes"):
        read_checkpoint(tmp_path / "m.pt")
    assert blob["format"] == FORMAT


def _run(out: Path, *extra: str, methods: str = "teacher,kd") -> int:
    return cli_main(["run", "--preset", "micro", "--methods", methods, "--seeds", "1", "--out", str(out),
                     "--device", "cpu", "--no-tables", "--threads", "1", *extra])


def test_a_mismatched_class_count_fails_before_work_naming_both_values(tmp_path, capsys, isolated_cache):
    path = tmp_path / "teacher.pt"
    save_checkpoint(path, _checkpoint(num_classes=3))
    assert _run(tmp_path / "out", "--teacher-checkpoint", str(path)) == 2
    err = capsys.readouterr().err
    assert "has 3 classes" in err and "'synth' has 10" in err and str(path) in err
    assert not (tmp_path / "out" / "runs.jsonl").exists()


def test_a_mismatched_front_end_fails_before_work_naming_both_values(tmp_path, capsys):
    path = tmp_path / "teacher.pt"
    other = FrontEndConfig(sample_rate=16000, n_fft=512, win_length=400, hop_length=160, n_mels=32)
    save_checkpoint(path, _checkpoint(frontend=other))
    assert _run(tmp_path / "out", "--teacher-checkpoint", str(path)) == 2
    err = capsys.readouterr().err
    assert "front end" in err and "hop_length 160 vs 320" in err
    assert not (tmp_path / "out" / "runs.jsonl").exists()


def test_an_invalid_teacher_checkpoint_fails_with_its_path(tmp_path, capsys):
    path = tmp_path / "teacher.pt"
    path.write_text("hello")
    assert _run(tmp_path / "out", "--teacher-checkpoint", str(path)) == 2
    assert f"{path} is not a valid model checkpoint" in capsys.readouterr().err


def test_a_teacher_of_another_architecture_than_the_pairs_is_refused(tmp_path, capsys):
    path = tmp_path / "teacher.pt"
    save_checkpoint(path, _checkpoint())
    assert _run(tmp_path / "out", "--teacher-checkpoint", str(path), "--pairs", "resnet34_tiny:wrn10_2_tiny") == 2
    assert "holds a wrn16_2_tiny teacher but --pairs names teacher(s) resnet34_tiny:wrn10_2_tiny" \
        in capsys.readouterr().err


def _records(out: Path) -> dict[str, object]:
    return {r.method: r for r in RunStore(out).read_records()}


def test_save_models_then_teacher_checkpoint_gives_the_same_accuracies(tmp_path):
    """Train in place with --save-models, then distil again from the saved teacher into another folder: the
    teacher and the KD student get the same accuracies; the records carry the teacher's hash."""
    models = tmp_path / "models"
    assert _run(tmp_path / "inplace", "--save-models", str(models)) == 0
    folder = models / "synth" / "wrn16_2_tiny-wrn10_2_tiny"
    teacher_file, kd_file = folder / "teacher-seed0.pt", folder / "kd-seed0.pt"
    assert teacher_file.is_file() and kd_file.is_file()
    inplace = _records(tmp_path / "inplace")
    sidecar = json.loads(kd_file.with_suffix(".json").read_text())
    assert sidecar["config_hash"] == inplace["kd"].config_hash and sidecar["method"] == "kd"
    student = load_student(kd_file)
    assert student.checkpoint.test_accuracy == inplace["kd"].accuracy
    assert inplace["kd"].teacher_accuracy == inplace["teacher"].accuracy  # the cells carry their teacher's scores

    # a resumed sweep rewrites no checkpoint it has, and remakes one that is missing
    stamps = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert _run(tmp_path / "inplace", "--save-models", str(models)) == 0
    assert {p: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps
    kd_file.unlink()
    assert _run(tmp_path / "inplace", "--save-models", str(models)) == 0
    assert kd_file.is_file() and teacher_file.stat().st_mtime_ns == stamps[teacher_file]
    assert len(RunStore(tmp_path / "inplace").read_records()) == 3  # teacher, kd, and kd again

    assert _run(tmp_path / "given", "--teacher-checkpoint", str(teacher_file)) == 0
    given = _records(tmp_path / "given")
    for method in ("teacher", "kd"):
        assert given[method].accuracy == inplace[method].accuracy, method
        assert given[method].val_accuracy == inplace[method].val_accuracy, method
        assert given[method].test_predictions == inplace[method].test_predictions, method
        assert given[method].teacher_checkpoint and given[method].config["teacher_checkpoint"] \
            == given[method].teacher_checkpoint
        assert given[method].config_hash != inplace[method].config_hash  # never mixed with in-place results
