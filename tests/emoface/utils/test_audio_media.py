"""Audio loading: any rate and channel count -> 16 kHz mono; media errors name the file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from emoface.utils.audio import AudioError, load_audio
from emoface.utils.media import MediaError, decode_audio, probe_video, run_ffmpeg


def test_stereo_44k_wav_to_16k_mono(tmp_path):
    sr = 44100
    t = np.arange(sr) / sr
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "a.wav", np.stack([tone, tone], 1), sr)
    audio = load_audio(tmp_path / "a.wav")
    assert audio.dtype == np.float32 and audio.ndim == 1 and abs(audio.size - 16000) <= 1
    spec = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spec) - 440) <= 1
    assert 0.45 < np.abs(audio).max() < 0.55


def test_video_probe_and_audio_decode(tmp_path):
    mp4 = tmp_path / "v.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=30:duration=1", "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000:duration=1",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(mp4)]
    )
    info = probe_video(mp4)
    assert (info.width, info.height) == (64, 48) and abs(info.fps - 30) < 1e-6 and info.has_audio
    audio = decode_audio(mp4)
    assert abs(audio.size - 16000) < 1600
    assert load_audio(mp4).size == audio.size


def test_bad_files_name_the_file(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError, match="empty.mp4: zero-byte file"):
        probe_video(empty)
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioError, match="junk.wav"):
        load_audio(junk)
    with pytest.raises(AudioError, match="missing.wav: audio file not found"):
        load_audio(tmp_path / "missing.wav")
