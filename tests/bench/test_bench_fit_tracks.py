"""bench.bench_fit reads a clip the way the build does: the track carries every field of the landmarks stage."""

from __future__ import annotations

from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "ravdess" / "actor05_neutral_1s.mp4"


def test_bench_track_has_the_blendshape_names_the_fit_initialises_the_jaw_from():
    # the bench once built its LandmarkTrack by hand and dropped the blendshape names, so the
    # fit's jawOpen initialisation (which looks the score up by name) silently did not run
    from bench.bench_fit import decode_and_landmark
    from pipeline.fitting.init import initial_jaw_open

    _, track, _ = decode_and_landmark(FIXTURE)
    assert track.blendshapes is not None and "jawOpen" in track.blendshape_names
    assert track.detector == "mediapipe" and track.scheme == "mediapipe478"
    jaw = initial_jaw_open(track.blendshapes, track.blendshape_names, track.n_frames)
    assert getattr(jaw, "shape", ()) == (track.n_frames,)
