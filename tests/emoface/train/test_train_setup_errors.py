"""Setup errors of ``emoface train`` (data that cannot train as asked): one physical line, exit 2, nothing trained."""

from __future__ import annotations

from typer.testing import CliRunner

from emoface.cli import app


def test_a_data_folder_without_train_h5_is_a_setup_error(tmp_path):
    (tmp_path / "data").mkdir()
    r = CliRunner().invoke(app, ["train", "-d", str(tmp_path / "data"), "-o", str(tmp_path / "run")])
    errors = [ln for ln in r.output.splitlines() if not ln[:4].isdigit()]  # lines other than the log's (timestamps)
    assert r.exit_code == 2 and errors == [
        f"error: {tmp_path / 'data' / 'train.h5'}: training split not found (expected train.h5 in --data)"], r.output
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()
