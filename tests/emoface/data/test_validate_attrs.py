"""Clip attributes of the wrong type (a string ``emotion``) are reported, never a traceback (issue 13, 2.6)."""

from __future__ import annotations

import h5py
import pytest
from typer.testing import CliRunner

from emoface.cli import app
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split
from emoface.data.schema import SchemaError, SplitReader, validate_split


@pytest.mark.parametrize("name,value", [("emotion", "happy"), ("intensity", 0.5), ("statement", "one")])
def test_non_integer_clip_attribute(tmp_path, name, value):
    path = write_synthetic_split(tmp_path / "train.h5", SyntheticSpec(actors=(1,), emotions=(0,), intensities=(0,),
                                                                     statements=(1,), base_frames=8))
    with h5py.File(path, "r+") as h:
        cid = sorted(h["clips"])[0]
        h[f"clips/{cid}"].attrs[name] = value
    problems = validate_split(path)
    assert len(problems) == 1 and name in problems[0] and "integer" in problems[0] and str(path) in problems[0]
    r = CliRunner().invoke(app, ["validate", str(path)])
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), repr(r.exception)
    assert "INVALID" in r.output and name in r.output
    with SplitReader(path) as reader, pytest.raises(SchemaError, match=f"{name}.*must be an integer"):
        reader.clip_meta(cid)
