"""eSpeak NG through ctypes: audio, phoneme timing, determinism, prosody; visemes and emotion curves."""

import numpy as np
import pytest

from emoface.data.ravdess import EMOTIONS, STATEMENTS
from pipeline.sources.synth.emotion import EXPRESSION_CHANNELS, emotion_prosody, expression_curves
from pipeline.sources.synth.speech import ESpeakError, Prosody, synthesize
from pipeline.sources.synth.visemes import CHANNELS, articulation_curves


def test_speech_has_audio_and_ordered_phonemes():
    s = synthesize(STATEMENTS[0], "en-us+m3")
    assert s.sample_rate == 22050 and s.audio.dtype == np.float32
    assert 1.0 < s.duration_s < 3.0 and np.abs(s.audio).max() <= 1.0
    assert len(s.phonemes) >= 12
    starts = [p.start_s for p in s.phonemes]
    assert starts == sorted(starts)
    assert all(p.end_s > p.start_s for p in s.phonemes)
    assert s.phonemes[-1].end_s <= s.duration_s + 1e-9
    # "Kids are talking by the door": starts with k, has a stressed vowel, ends with the door's vowel
    assert s.phonemes[0].base == "k" and any(p.stressed for p in s.phonemes)
    # the audio is silent before the first phoneme starts and loud during the speech
    first = int(s.phonemes[0].start_s * s.sample_rate)
    assert np.abs(s.audio[: max(first - 50, 1)]).max() < 0.05 < np.abs(s.audio[first:]).max()


def test_speech_is_a_pure_function_of_its_arguments():
    a = synthesize(STATEMENTS[1], "en-us+f2", Prosody(rate=160, pitch=60))
    synthesize(STATEMENTS[0], "en-us+m1")  # something else in between
    b = synthesize(STATEMENTS[1], "en-us+f2", Prosody(rate=160, pitch=60))
    assert np.array_equal(a.audio, b.audio) and a.phonemes == b.phonemes


def test_prosody_changes_rate_and_loudness():
    slow = synthesize(STATEMENTS[0], "en-us+m2", Prosody(rate=130))
    fast = synthesize(STATEMENTS[0], "en-us+m2", Prosody(rate=230))
    assert slow.duration_s > 1.3 * fast.duration_s
    base = Prosody(rate=170, pitch=50, pitch_range=50, gain=1.0)
    sad, angry = emotion_prosody(base, "sad", 2), emotion_prosody(base, "angry", 2)
    assert sad.rate < base.rate < angry.rate and sad.gain < 1.0 < angry.gain and sad.pitch < angry.pitch
    normal = emotion_prosody(base, "angry", 1)
    assert base.gain < normal.gain < angry.gain


def test_unknown_voice_is_a_clear_error():
    with pytest.raises(ESpeakError, match="no voice"):
        synthesize("hello", "xx-nonexistent")


def test_visemes_open_on_vowels_and_close_on_bilabials():
    s = synthesize(STATEMENTS[0], "en-us+m3")
    phonemes = [p.shifted(0.5) for p in s.phonemes]
    fps = 100.0
    n = int((s.duration_s + 1.0) * fps)
    art = articulation_curves(phonemes, n, fps)
    assert art.values.shape == (n, len(CHANNELS)) and np.isfinite(art.values).all()
    jaw, close = art["jaw"], art["close"]
    at = lambda t: int(round(t * fps))  # noqa: E731
    b = next(p for p in phonemes if p.base == "b")  # "by"
    vowel = next(p for p in phonemes if p.base.startswith("ɔ"))  # "talking"
    assert close[at(b.start_s + 0.5 * (b.end_s - b.start_s)) - 3] > 0.5
    assert jaw[at(0.5 * (vowel.start_s + vowel.end_s))] > 0.4
    assert jaw[0] < 0.05 and close[0] > 0.9 and jaw[-1] < 0.05  # rest: closed mouth


@pytest.mark.parametrize("emotion", EMOTIONS)
def test_expression_curves_follow_the_emotion(emotion):
    s = synthesize(STATEMENTS[1], "en-us+f1")
    phon = [p.shifted(0.6) for p in s.phonemes]
    n = 110
    strong = expression_curves(emotion, 2, phon, n, 30.0, np.random.default_rng(0))
    normal = expression_curves(emotion, 1, phon, n, 30.0, np.random.default_rng(0))
    assert strong.shape == (n, len(EXPRESSION_CHANNELS)) and (strong >= 0).all()
    key = {"happy": "smile", "sad": "frown", "angry": "brow_lower", "surprised": "brow_raise", "fearful": "eye_wide", "disgust": "sneer"}.get(emotion)
    if key:
        j = EXPRESSION_CHANNELS.index(key)
        assert strong[60:, j].mean() > normal[60:, j].mean() > 0.1
        assert strong[0, j] < strong[60, j]  # the expression builds up
