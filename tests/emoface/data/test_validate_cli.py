"""``emoface validate`` exits 0 on a valid file and 1 with a readable list on a broken one."""

from __future__ import annotations

from typer.testing import CliRunner

from emoface.cli import app
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split


def test_validate_cli(tmp_path):
    good = write_synthetic_split(tmp_path / "good.h5", SyntheticSpec(actors=(1,), emotions=(0,), base_frames=10))
    runner = CliRunner()
    res = runner.invoke(app, ["validate", str(good)])
    assert res.exit_code == 0, res.output
    assert "OK" in res.output and "clips" in res.output
    bad = tmp_path / "bad.h5"
    bad.write_bytes(good.read_bytes()[:2000])
    res = runner.invoke(app, ["validate", str(good), str(bad)])
    assert res.exit_code == 1
    assert "INVALID" in res.output and "bad.h5" in res.output
