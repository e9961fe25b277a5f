"""read_audio: every WAV flavour of the real datasets, mixdown, resampling and clear failures."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from benchmark.data.audio_io import BadAudioFile, read_audio, read_native


def tone(seconds: float, rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("subtype,tolerance", [("PCM_U8", 1 / 64), ("PCM_16", 1e-4), ("PCM_24", 1e-6),
                                               ("FLOAT", 0.0)])
def test_bit_depths_read_as_the_same_float_signal(tmp_path, subtype, tolerance):
    x = tone(0.05, 8000)
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, x, 8000, subtype=subtype)
    y = read_audio(path, 8000)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.max(np.abs(y - x)) <= tolerance + 1e-7


def test_stereo_is_averaged_to_mono(tmp_path):
    x = tone(0.05, 16000)
    sf.write(tmp_path / "opposite.wav", np.stack([x, -x], axis=1), 16000, subtype="FLOAT")
    sf.write(tmp_path / "mixed.wav", np.stack([x, 0.5 * x], axis=1), 16000, subtype="FLOAT")
    assert np.max(np.abs(read_audio(tmp_path / "opposite.wav", 16000))) < 1e-7
    np.testing.assert_allclose(read_audio(tmp_path / "mixed.wav", 16000), 0.75 * x, atol=1e-6)


@pytest.mark.parametrize("rate,seconds,expected", [(48000, 0.1, 1600), (44100, 0.2, 3200), (22050, 0.1, 1600),
                                                   (8000, 0.05, 800)])
def test_resampling_gives_the_target_length(tmp_path, rate, seconds, expected):
    path = tmp_path / f"{rate}.wav"
    sf.write(path, tone(seconds, rate), rate, subtype="PCM_16")
    assert len(read_audio(path, 16000)) == expected


def test_resampling_keeps_a_tone_in_band(tmp_path):
    """A 1 kHz tone resampled 48 kHz -> 16 kHz is still a 1 kHz tone of the same amplitude."""
    sf.write(tmp_path / "tone.wav", tone(0.2, 48000, freq=1000.0), 48000, subtype="FLOAT")
    y = read_audio(tmp_path / "tone.wav", 16000)
    spectrum = np.abs(np.fft.rfft(y[400:-400] * np.hanning(len(y) - 800)))
    peak_hz = np.argmax(spectrum) * 16000 / (len(y) - 800)
    assert abs(peak_hz - 1000) < 20
    assert abs(np.max(np.abs(y[400:-400])) - 0.5) < 0.02


def test_truncated_wav_names_its_path_and_reason(tmp_path):
    path = tmp_path / "cut.wav"
    sf.write(path, tone(0.1, 16000), 16000, subtype="PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadAudioFile, match="truncated") as info:
        read_audio(path, 16000)
    assert str(path) in str(info.value) and info.value.path == path


@pytest.mark.parametrize("content,reason", [(b"", "Format not recognised"),
                                            (b"RIFF" + b"\0" * 40, "cannot read audio file"),
                                            (b"not audio at all" * 8, "Format not recognised")])
def test_corrupt_files_raise_bad_audio_file(tmp_path, content, reason):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(BadAudioFile, match=reason) as info:
        read_native(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_bad_audio_file(tmp_path):
    with pytest.raises(BadAudioFile, match="file not found"):
        read_audio(tmp_path / "nope.wav", 16000)


def test_non_finite_samples_are_rejected(tmp_path):
    x = tone(0.01, 8000)
    x[5] = np.nan
    sf.write(tmp_path / "nan.wav", x, 8000, subtype="FLOAT")
    with pytest.raises(BadAudioFile, match="NaN"):
        read_audio(tmp_path / "nan.wav", 8000)
