"""Training-memory options that change no result (emoface/train/memory.py).

- the gradients are freed right after the optimiser step (the next forward runs without them);
- ``optim.foreach: false`` (Adam one parameter at a time) and ``optim.step_in_backward: true``
  (each parameter updated inside the backward pass, its gradient freed there): the same losses
  and updated parameters as the default step, to 1e-5 (bit for bit between the two options);
- ``optim.fused: true`` (Adam's fused kernel): the same to 1e-5, alone and in the backward pass;
- ``train.malloc_release``: ``trim`` / ``mmap`` hand freed memory back to the system; same numbers;
- the options' conflicts (gradient clipping, DDP) are one-line errors.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from emoface.train.config import ExperimentConfig, LossConfig, OptimConfig, ScheduleConfig
from emoface.train.losses import pair_losses
from emoface.train.memory import OptimizerStep
from emoface.train.pairs import PairBatch
from emoface.train.step import PairModel, StepRandom
from emoface.train.distributed import DistInfo
from emoface.train.trainer import Trainer, TrainingSetupError
from emoface.utils.config import ConfigError, load_yaml
from pair_model_support import pair_batch, tiny_pair_model
from tools.testing.experiments import flat_overrides, tiny_experiment
from tools.testing.fixtures import SyntheticSpec, write_synthetic_split

REPO = Path(__file__).resolve().parents[3]
T1, T2 = 9, 12


def _batch(template: torch.Tensor) -> PairBatch:
    return pair_batch(template, T1, T2)


def _train(model, template, optim: OptimConfig, steps: int = 3, checkpoint: bool = False):
    """Losses and the parameters after ``steps`` self-growing pair steps (p_gt = 0.5, dropout on)."""
    model = copy.deepcopy(model).train()
    for enc in (model.content_encoder, model.emotion_encoder):
        enc.cfg.checkpoint = checkpoint  # the copy's own config
    pm = PairModel(model, ScheduleConfig(theta=0))
    stepper = OptimizerStep([p for p in model.parameters() if p.requires_grad], optim)
    batch = _batch(template)
    losses = []
    for i in range(steps):
        rnd = StepRandom(torch.rand(1, T1, generator=torch.Generator().manual_seed(10 + i)),
                         torch.rand(1, T2, generator=torch.Generator().manual_seed(20 + i)), torch.ones(1), torch.ones(1))
        torch.manual_seed(100 + i)  # the same dropout masks in every variant
        out = pm(batch, 0.5, rnd)
        loss = pair_losses(out.self_target.final, out.gt_self, out.cross_target.final, out.gt_cross, out.logits,
                           out.labels, LossConfig()).total
        stepper.backward_and_step(loss)
        assert all(p.grad is None for p in model.parameters())  # nothing held into the next forward pass
        losses.append(loss.detach())
    return torch.stack(losses), {n: p.detach().clone() for n, p in model.named_parameters()}, stepper


def _max_rel(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k] - b[k]).abs().max() / b[k].abs().max().clamp(min=1e-12)) for k in b)


@pytest.fixture(scope="module")
def tiny():
    return tiny_pair_model()


def test_foreach_false_and_step_in_backward_give_the_default_update(tiny):
    model, template = tiny
    ref_loss, ref, _ = _train(model, template, OptimConfig(lr=1e-3))
    start = {n: p.detach() for n, p in model.named_parameters()}
    assert _max_rel(ref, start) > 1e-3  # the steps moved the weights: the comparison can fail
    # (on the CPU PyTorch's default is already one parameter at a time: this pair is bit-identical here; on a
    # GPU the default is the multi-tensor path)
    loss, single, _ = _train(model, template, OptimConfig(lr=1e-3, foreach=False))
    assert torch.allclose(loss, ref_loss, rtol=1e-5, atol=0) and _max_rel(single, ref) <= 1e-5
    loss_b, inb, stepper = _train(model, template, OptimConfig(lr=1e-3, step_in_backward=True))
    assert torch.allclose(loss_b, ref_loss, rtol=1e-5, atol=0) and _max_rel(inb, ref) <= 1e-5
    # the same per-parameter Adam as foreach: false, bit for bit
    assert torch.equal(loss_b, loss) and all(torch.equal(inb[k], single[k]) for k in single)
    trained = sum(p.requires_grad for p in model.parameters())
    assert stepper.in_backward.steps == 3 * trained  # every trained parameter updated once per step, in backward
    assert all(len(s) == 3 and int(s["step"]) == 3 for s in stepper.optimizer.state.values())


def _predict(model, template, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """The pair model's outputs with ``params``, eval mode, teacher-forced: the fused self and cross targets."""
    model = copy.deepcopy(model).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(params[n])
        ones = StepRandom(torch.ones(1, T1), torch.ones(1, T2), torch.ones(1), torch.ones(1))
        out = PairModel(model, ScheduleConfig(theta=0))(_batch(template), 1.0, ones)
    return torch.cat([out.self_target.final.fused.flatten(), out.cross_target.final.fused.flatten()])


def _without_key_biases(params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``params`` without attention's key biases, whose exact gradient is 0 (softmax over keys ignores a
    shift that is the same for every key): their float gradient is rounding noise, which Adam normalises
    into steps of about lr whose sign depends on the kernel's summation order; they change no output.
    wav2vec2's ``k_proj.bias`` is left out; of the decoders' packed ``qkv.bias`` the middle (key) third."""
    out = {}
    for k, v in params.items():
        if k.endswith("attention.k_proj.bias"):
            continue
        if k.endswith("self_attn.qkv.bias"):
            d = v.numel() // 3
            v = torch.cat([v[:d], v[2 * d:]])
        out[k] = v
    return out


def test_fused_adam_gives_the_default_update(tiny):
    """``optim.fused``: Adam's fused kernel, alone and inside the backward pass, gives the default step's
    losses, outputs and weights to 1e-5 (all but the key biases, which change no output); a checkpoint of
    either kind resumes under the other with the run's choice."""
    model, template = tiny
    ref_loss, ref, ref_stepper = _train(model, template, OptimConfig(lr=1e-3))
    ref_out = _predict(model, template, ref)
    assert float((ref_out - _predict(model, template, dict(model.named_parameters()))).abs().max()) > 1e-3 * float(
        ref_out.abs().max())  # training moved the outputs: the comparison can fail
    for cfg in (OptimConfig(lr=1e-3, fused=True), OptimConfig(lr=1e-3, fused=True, step_in_backward=True)):
        loss, fused, stepper = _train(model, template, cfg)
        assert all(g["fused"] for g in stepper.optimizer.param_groups)
        assert torch.allclose(loss, ref_loss, rtol=1e-5, atol=0), cfg
        out = _predict(model, template, fused)
        assert float((out - ref_out).abs().max()) <= 1e-5 * float(ref_out.abs().max()), cfg
        kept_f, kept_r = _without_key_biases(fused), _without_key_biases(ref)
        assert len(kept_r) > len(ref) - 4 and _max_rel(kept_f, kept_r) <= 1e-5
    # resume: a default run's optimiser state loaded into a fused run keeps the fused kernel (and back),
    # and the next step runs on the other kind's state
    stepper.optimizer.load_state_dict(ref_stepper.optimizer.state_dict())
    assert not any(g["fused"] for g in stepper.optimizer.param_groups)  # the state dict carries its own
    stepper.restore_options()
    assert all(g["fused"] for g in stepper.optimizer.param_groups)
    ref_stepper.optimizer.load_state_dict(stepper.optimizer.state_dict())
    ref_stepper.restore_options()
    assert not any(g["fused"] for g in ref_stepper.optimizer.param_groups)
    for st in (stepper, ref_stepper):
        p0 = [p.detach().clone() for p in st.params]
        steps = {id(p): int(st.optimizer.state[p]["step"]) for p in st.params if p in st.optimizer.state}
        assert steps
        for p in st.params:
            p.grad = torch.full_like(p, 1e-3)
        st.optimizer.step()
        assert all(int(st.optimizer.state[p]["step"]) == steps[id(p)] + 1 for p in st.params if id(p) in steps)
        assert all(not torch.equal(p, q) for p, q in zip(st.params, p0))


def test_step_in_backward_with_encoder_checkpointing(tiny):
    """Checkpointed encoders recompute their forward pass inside the backward pass: no weight may be
    updated before its last use there (the hook fires only once a gradient is complete)."""
    model, template = tiny
    ref_loss, ref, _ = _train(model, template, OptimConfig(lr=1e-3, foreach=False), steps=2, checkpoint=True)
    loss, inb, _ = _train(model, template, OptimConfig(lr=1e-3, step_in_backward=True), steps=2, checkpoint=True)
    assert torch.equal(loss, ref_loss) and all(torch.equal(inb[k], ref[k]) for k in ref)


def test_step_in_backward_outside_the_step_accumulates_as_usual(tiny):
    model, _ = tiny
    model = copy.deepcopy(model)
    stepper = OptimizerStep([p for p in model.parameters() if p.requires_grad], OptimConfig(step_in_backward=True))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model.content_decoder.output.weight.sum().backward()  # not armed: a plain backward pass
    assert model.content_decoder.output.weight.grad is not None and stepper.in_backward.steps == 0
    assert all(torch.equal(p, before[n]) for n, p in model.named_parameters())


def test_option_conflicts_are_one_line_errors(tmp_path):
    path = tmp_path / "clip.yaml"
    path.write_text(yaml.safe_dump({"optim": {"step_in_backward": True, "grad_clip": 1.0}}))
    with pytest.raises(ConfigError, match=r"clip\.yaml.*step_in_backward cannot clip gradients") as err:
        load_yaml(ExperimentConfig, path)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="fused and foreach are two implementations"):
        load_yaml(ExperimentConfig, None, {"optim.fused": True, "optim.foreach": True})
    with pytest.raises(ConfigError, match="malloc_release"):
        load_yaml(ExperimentConfig, None, {"train.malloc_release": "jemalloc"})
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="step_in_backward needs a single process"):
        OptimizerStep([p], OptimConfig(step_in_backward=True), distributed=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("memory_options") / "data"
    write_synthetic_split(root / "train.h5", SyntheticSpec(actors=(1,), emotions=(0, 2), intensities=(0, 1),
                                                           statements=(1,), base_frames=12))
    return root


def _run(data: Path, run: Path, **overrides) -> Trainer:
    cfg = load_yaml(ExperimentConfig, None, {**flat_overrides(tiny_experiment("mem")), **overrides})
    trainer = Trainer(cfg, data, run)  # one epoch of the four clips' pairs
    trainer.run()
    return trainer




def test_trainer_frees_gradients_and_the_options_train_the_same_weights(data, tmp_path):
    ref = _run(data, tmp_path / "ref")
    # the old trainer zeroed the gradients only before the next backward pass: they lived through
    # the next forward pass (and after the last step)
    assert all(p.grad is None for p in ref.model.parameters())
    opt = _run(data, tmp_path / "opt", **{"optim.step_in_backward": True, "train.malloc_release": "trim"})
    assert opt.stepper.in_backward is not None and opt.stepper.in_backward.steps > 0
    assert opt.stepper.release.mode == "trim"
    ref_w = {k: v for k, v in ref.model.state_dict().items() if v.is_floating_point()}
    assert _max_rel(opt.model.state_dict(), ref_w) <= 1e-5
    assert opt.history[0]["train"]["loss"] == pytest.approx(ref.history[0]["train"]["loss"], rel=1e-5)


def test_trainer_refuses_step_in_backward_under_ddp(data, tmp_path):
    cfg = load_yaml(ExperimentConfig, None, {**flat_overrides(tiny_experiment("mem")), "optim.step_in_backward": True})
    trainer = Trainer(cfg, data, tmp_path / "run")
    trainer.info = DistInfo(rank=0, world_size=2)  # as under torchrun with two processes
    with pytest.raises(TrainingSetupError, match="step_in_backward needs a single process"):
        trainer._setup()


_RELEASE = r"""
import sys, torch
from pathlib import Path
from emoface.train.memory import MallocRelease
def rss():
    return int(next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmRSS:")).split()[1])
rel = MallocRelease(sys.argv[1])
print(rel.active)
x = torch.ones(1_000_000)
del x  # glibc's default: freeing a mapped block raises the mmap threshold to its size (3.8 MiB)...
ts = [torch.ones(600_000) for _ in range(200)]  # ... so these 200 x 2.3 MiB come from the heap
keep = torch.ones(600_000)  # allocated last: the heap's top stays in use, free() cannot shrink the heap
before = rss()
del ts
rel.after_step()
print((before - rss()) / 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads VmRSS from /proc")
@pytest.mark.parametrize("mode", ["trim", "mmap"])
def test_malloc_release_hands_freed_memory_back(mode):
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def freed(m: str) -> tuple[bool, float]:
        out = subprocess.run([sys.executable, "-c", _RELEASE, m], capture_output=True, text=True, env=env, cwd=REPO,
                             check=True).stdout.split()
        return out[0] == "True", float(out[1])

    active, mib = freed(mode)
    if not active:
        pytest.skip("not glibc: malloc_release is a no-op here")
    assert mib > 300  # most of the 450 MiB went back to the system
    assert freed("off")[1] < 100  # glibc's default keeps it (the test can fail)


def test_malloc_release_steps_aside_for_a_preloaded_allocator(monkeypatch, caplog):
    import emoface.train.memory as memory

    monkeypatch.setattr(memory, "preloaded_allocator", lambda: "tcmalloc")
    with caplog.at_level("WARNING", logger="emoface.train"):
        rel = memory.MallocRelease("trim")
    assert not rel.active and "tcmalloc replaces it" in caplog.text
    rel.after_step()  # a no-op


_PRELOADED = "from emoface.train.memory import preloaded_allocator, MallocRelease; print(preloaded_allocator(), MallocRelease('mmap').active)"


def test_preloaded_tcmalloc_is_found_and_glibc_options_step_aside():
    import ctypes.util

    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"} | {"PYTHONPATH": str(REPO)}

    def run(extra: dict) -> list[str]:
        return subprocess.run([sys.executable, "-c", _PRELOADED], capture_output=True, text=True, env=env | extra,
                              cwd=REPO, check=True).stdout.split()

    if Path("/proc/self/status").is_file():  # Linux with glibc: its own malloc, the options act
        assert run({})[0] == "None"
    lib = ctypes.util.find_library("tcmalloc_minimal") or ctypes.util.find_library("tcmalloc")
    if lib is None:
        pytest.skip("no tcmalloc on this machine (Debian: libtcmalloc-minimal4)")
    assert run({"LD_PRELOAD": lib}) == ["tcmalloc", "False"]
