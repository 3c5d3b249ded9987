"""``bench.bench_profile``'s memory accounting: saved tensors without the parameters, and one whole step by part."""

import pytest
import torch

from bench.bench_profile import OP_GROUPS, OUTSIDE, STEP_PARTS, _saved_bytes, operator_groups, step_memory
from bench.bench_speed import _operator_group_lines, _step_memory_lines


pytestmark = pytest.mark.usefixtures("one_thread")


def test_saved_bytes_leaves_out_the_parameters_a_layer_saves():
    lin = torch.nn.Linear(64, 32)
    x = torch.randn(16, 64, requires_grad=True)  # so that the weight is saved for the input's gradient
    _, with_weights = _saved_bytes(lambda: lin(x))
    _, without = _saved_bytes(lambda: lin(x), list(lin.parameters()))
    assert without == x.numel() * 4  # the input only: Linear saves its input and its weight
    assert with_weights == without + lin.weight.numel() * 4


def test_step_memory_credits_every_saved_tensor_to_one_part_once():
    rep = step_memory("small", 468, 4, "emoface")
    parts = set(rep["saved_mib"])
    assert parts <= {label for _, label in STEP_PARTS} | {OUTSIDE}
    for part in ("content encoder: CNN", "content encoder: transformer", "emotion encoder: CNN",
                 "emotion encoder: transformer", "Mesh Attention", "decoders"):
        assert rep["saved_mib"][part] > 0, part
    assert rep["saved_mib"][OUTSIDE] > 0  # the losses after the modules: each part's hooks leave it again
    assert rep["saved_total_mib"] == pytest.approx(sum(rep["saved_mib"].values()))
    if "live_peak_mib" in rep:  # glibc
        assert rep["live_libraries_mib"] < rep["live_between_steps_mib"] <= rep["live_forward_end_mib"] <= rep["live_peak_mib"]
        # what is saved is held at the end of the forward pass (counted once; the inputs made before the step are a few KiB)
        assert rep["saved_total_mib"] <= rep["live_forward_end_mib"] - rep["live_between_steps_mib"] + 0.1
    single = step_memory("small", 468, 4, "single_branch")
    assert not any(k.startswith("emotion") or k == "Mesh Attention" for k in single["saved_mib"])
    lines = _step_memory_lines([rep, single])
    assert lines[2] == "| | pair step | single branch |"
    assert any(line.startswith("| saved: Mesh Attention | ") and line.endswith(" | - |") for line in lines)
    assert any(line.startswith("| **saved: all** |") for line in lines)


def test_operator_groups_sum_to_the_step():
    groups = operator_groups(4, preset="small", n_vertices=468, threads=1, warmup=1)
    for variant in ("emoface", "single_branch"):
        g = groups[variant]
        kinds = [label for label, _ in OP_GROUPS]
        assert all(g[k] >= 0 for k in kinds) and g[kinds[0]] > 0  # the linear layers run in every step
        assert g["rest"] >= 0 and sum(g[k] for k in kinds) + g["rest"] == pytest.approx(g["all operators"])
        assert 0 < g["all operators"] and 0 < g["wall"]
    lines = _operator_group_lines(groups)
    assert lines[2] == "| operators | pair step | single branch | ratio |"
    assert any(line.startswith("| all operators | ") for line in lines)
    assert lines[-2].startswith("| the profiled step's wall time | ")
