"""The QA report in a real browser (headless Chromium over the DevTools pipe): it renders, its
pictures load, a column sorts, and the page logs no script errors.

Skipped with a reason where no chromium is installed (Debian: ``apt-get install chromium``;
``.ci/run`` installs it when it can)."""

from __future__ import annotations

import numpy as np
import pytest

from browser_support import Browser, find_chromium
from pipeline.qa import write_report
from pipeline.qa.expressive import encode_jpeg

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")

# clip id -> (max offset mm, jitter mm/frame^2): the two columns sort in different orders
CLIPS = {"01-01-03-02-01-01-01": (2.5, 0.20), "01-01-05-02-01-01-01": (0.7, 0.05), "01-01-08-01-01-01-01": (1.6, 0.40)}


def _rows() -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for cid, (offset, jitter) in CLIPS.items():
        pair = rng.integers(0, 255, (32, 64, 3), dtype=np.uint8)
        metrics = {"n_frames": 30, "fps": 30.0, "detection_rate": 1.0, "reprojection_iod": 0.01, "jitter_mm": jitter,
                   "expressive_frame": {"frame": 12, "time_s": 0.4, "offset_mm": offset}}
        arrays = {"overlay": np.full((160, 160, 3), 120, np.uint8),
                  "expressive_pair": np.frombuffer(encode_jpeg(pair), np.uint8),
                  "reprojection_iod": np.linspace(0.5, 1.5, 30, dtype=np.float32)}
        rows.append({"clip_id": cid, "subject": "Actor_01", "emotion": int(cid.split("-")[2]), "intensity": 1,
                     "qa": {"metrics": metrics, "flags": [], "status": "ok"}, "arrays": arrays})
    return rows


def _column(b: Browser, head: str) -> list[str]:
    """Click the clips table's header ``head``; the clip ids in the new row order."""
    return b.eval(f"""(() => {{
        const table = Array.from(document.querySelectorAll('table.sortable'))
            .find(t => Array.from(t.tHead.rows[0].cells).some(c => c.textContent === 'clip'));
        const heads = Array.from(table.tHead.rows[0].cells);
        const col = heads.findIndex(c => c.textContent === 'clip');
        heads.find(c => c.textContent === {head!r}).click();
        return Array.from(table.tBodies[0].rows).map(r => r.cells[col].textContent);
    }})()""")


@pytest.fixture()
def report(tmp_path):
    write_report(tmp_path / "qa", _rows())
    return tmp_path / "qa" / "report.html"


def test_report_renders_sorts_and_logs_no_errors(report):
    by = lambda k: sorted(CLIPS, key=lambda c: CLIPS[c][k])  # noqa: E731
    with Browser(CHROMIUM) as b:
        b.open(report.as_uri())
        # every picture (landmark thumbnails, frame | mesh pairs) loads and decodes
        loaded = b.eval("Promise.all(Array.from(document.images).map(i => { i.loading = 'eager'; return i.decode()"
                        ".then(() => [i.getAttribute('src'), i.naturalWidth, i.naturalHeight]); }))")
        assert sorted(loaded) == sorted([[f"thumbs/{c}.png", 160, 160] for c in CLIPS]
                                        + [[f"pairs/{c}.jpg", 64, 32] for c in CLIPS])
        # laid out: the clip table is on the page and a pair shows at its thumbnail size, linked to the full picture
        box = b.eval("(() => { const i = document.querySelector('img.pair'); const r = i.getBoundingClientRect();"
                     " return [r.width, r.height, i.parentElement.getAttribute('href')]; })()")
        assert box[:2] == [320, 160] and box[2].startswith("pairs/")
        assert b.eval("document.querySelector('h1').textContent").startswith("EmoFace-3D build")
        # sorting: ascending on the first click, descending on the second, by the column's numbers
        assert _column(b, "max offset mm") == by(0)
        assert _column(b, "max offset mm") == by(0)[::-1]
        assert _column(b, "jitter mm/f²") == by(1)
        b.settle()
        assert b.errors == []


def test_browser_check_sees_script_errors_and_missing_pictures(report):
    """The check above can fail: a broken script and a missing picture are both reported."""
    (report.parent / "pairs" / f"{next(iter(CLIPS))}.jpg").unlink()
    html = report.read_text(encoding="utf-8")
    report.write_text(html.replace("</body>", "<script>notDefinedAnywhere();</script></body>"), encoding="utf-8")
    with Browser(CHROMIUM) as b:
        b.open(report.as_uri())
        b.eval("Promise.allSettled(Array.from(document.images).map(i => { i.loading = 'eager'; return i.decode(); }))"
               ".then(() => 0)")
        b.settle()
        assert any("notDefinedAnywhere" in e for e in b.errors), b.errors
        assert any("ERR_FILE_NOT_FOUND" in e for e in b.errors), b.errors
