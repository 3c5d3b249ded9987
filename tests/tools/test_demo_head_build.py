"""The demo-head tool regenerates the shipped asset: every array of ``emoface/morphable/assets/demo_head.npz``
byte for byte, and its metadata (the runtime only loads that file; the builder does not ship)."""

from __future__ import annotations

import numpy as np

from tools.demo_head.build import ASSET, main


def test_tool_regenerates_the_shipped_asset(tmp_path, capsys):
    out = tmp_path / "demo_head.npz"
    main(["--out", str(out)])
    assert "468 vertices" in capsys.readouterr().out
    with np.load(ASSET) as shipped, np.load(out) as fresh:
        assert sorted(fresh.files) == sorted(shipped.files)
        for key in shipped.files:
            a, b = fresh[key], shipped[key]
            assert (a.dtype, a.shape) == (b.dtype, b.shape), key
            assert a.tobytes() == b.tobytes(), f"{key}: the tool no longer makes the shipped array"
