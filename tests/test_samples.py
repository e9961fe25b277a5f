import json

import soundfile as sf

from benchmark.cli import main


def test_samples_write_a_png_grid_and_wavs(tmp_path, capsys):
    out = tmp_path / "samples"
    code = main(["samples", "--method", "cmi", "--preset", "smoke", "--pair", "wrn16_2_tiny:wrn10_2_tiny",
                 "--count", "4", "--out", str(out), "--device", "cpu"])
    assert code == 0
    png = out / "cmi_samples.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((out / "cmi_samples.json").read_text())
    assert len(manifest["samples"]) == 4
    for sample in manifest["samples"]:
        wave, rate = sf.read(out / sample["wav"])
        assert rate == 16000 and len(wave) > 1000 and 0 < abs(wave).max() <= 1.0
        assert 0 < sample["teacher_confidence"] <= 1


def test_samples_refuse_a_method_that_synthesizes_nothing(capsys, tmp_path):
    assert main(["samples", "--method", "kd", "--preset", "smoke", "--out", str(tmp_path)]) == 2
    assert "choose a data-free method: adi, cmi, frami" in capsys.readouterr().err
