"""read_frame: one frame by seeking gives the same pixels as the full decode through the fps filter."""

from pathlib import Path

import numpy as np
import pytest

from emoface.utils.media import MediaError, ffmpeg_exe, read_frame

FIXTURE = Path(__file__).resolve().parents[2] / "data" / "ravdess" / "actor05_neutral_1s.mp4"


def _all_frames(path: Path, fps: float) -> list[np.ndarray]:
    from pipeline.stages.decode import MediaReader

    return [f.copy() for _, f in MediaReader(path, fps)]


def _video_25fps(path: Path) -> Path:
    """A 2 s, 25 fps clip with a moving pattern: resampled to 30 fps, some frames are shown twice."""
    import subprocess

    subprocess.run([ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=160x120:rate=25:duration=2", "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p",
                    str(path)], check=True)
    return path


@pytest.mark.parametrize("which", ["ravdess", "25fps"])
def test_seeked_frame_equals_the_decoded_frame(which, tmp_path):
    path = FIXTURE if which == "ravdess" else _video_25fps(tmp_path / "t25.mp4")
    frames = _all_frames(path, 30.0)
    picks = sorted({0, 1, 2, 7, 13, len(frames) // 2, len(frames) - 2, len(frames) - 1})
    for k in picks:
        got = read_frame(path, k, 30.0)
        assert got.dtype == np.uint8
        # the same pixels (a neighbouring frame differs: by about 0.3 grey levels on average in the real clip)
        assert np.array_equal(got, frames[k]), (k, [float(np.abs(got.astype(np.int16) - f).mean()) for f in frames])


def test_frame_past_the_end_and_missing_file_name_the_file(tmp_path):
    with pytest.raises(MediaError, match="actor05_neutral_1s.mp4: no frame 400"):
        read_frame(FIXTURE, 400, 30.0)
    with pytest.raises(MediaError, match="nothere.mp4: file not found"):
        read_frame(tmp_path / "nothere.mp4", 0, 30.0)
