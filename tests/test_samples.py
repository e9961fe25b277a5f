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
    diagnostics = manifest["diagnostics"]  # of the whole synthesized batch, intended labels included (CMI)
    assert 0 <= diagnostics["target_agreement"] <= 1 and diagnostics["classes_covered"] >= 1
    assert diagnostics["bn_loss_pool"] > 0 and diagnostics["bn_loss_real"] > 0
    assert "target_agreement" in capsys.readouterr().out


def test_samples_refuse_a_method_that_synthesizes_nothing(capsys, tmp_path):
    assert main(["samples", "--method", "kd", "--preset", "smoke", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "choose a data-free method: adi, cmi" in err and "frami-no-finv" in err
