"""The one RAVDESS name parser."""

from __future__ import annotations

import pytest

from emoface.data.ravdess import EMOTIONS, RavdessNameError, emotion_index, parse_name, speech_names


def test_parse_fields():
    n = parse_name("Actor_12/01-01-06-01-02-01-12.mp4")
    assert (n.modality, n.vocal_channel, n.emotion, n.intensity, n.statement, n.repetition, n.actor) == (1, 1, 6, 1, 2, 1, 12)
    assert n.emotion_name == "fearful" and n.emotion_index == 5 and n.intensity_name == "normal"
    assert n.gender == "female" and n.statement_text == "Dogs are sitting by the door"
    assert n.clip_id == "01-01-06-01-02-01-12" and n.filename() == "01-01-06-01-02-01-12.mp4"
    assert n.is_audio_video_speech and not n.with_modality(3).is_audio_video_speech


@pytest.mark.parametrize(
    "name, message",
    [
        ("01-01-01-02-01-01-01.mp4", "neutral has no strong intensity"),
        ("01-01-09-01-01-01-01.mp4", "emotion code 09"),
        ("01-01-01-01-01-01-25.mp4", "actor code 25"),
        ("04-01-01-01-01-01-01.mp4", "modality code 04"),
        ("clip.mp4", "not a RAVDESS name"),
        ("01-01-01-01-01-01.mp4", "not a RAVDESS name"),
    ],
)
def test_parse_errors_name_the_file(name, message):
    with pytest.raises(RavdessNameError, match=message) as exc:
        parse_name(name)
    assert name in str(exc.value)


def test_speech_set_per_actor():
    names = speech_names(5)
    assert len(names) == 60 == len({n.clip_id for n in names})
    assert sum(n.emotion == 1 for n in names) == 4
    assert all(sum(n.emotion == e for n in names) == 8 for e in range(2, 9))
    assert all(parse_name(n.filename()) == n for n in names)


def test_emotion_index():
    assert [emotion_index(e) for e in EMOTIONS] == list(range(8))
    assert emotion_index("Surprise") == 7
    with pytest.raises(ValueError, match="choose one of"):
        emotion_index("bored")
