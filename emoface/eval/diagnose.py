"""Diagnostics of a trained EmoFace run (issue 16 item 4): why does it (not) beat the single branch?

    from emoface.eval.diagnose import diagnose, write_diagnosis
    d = diagnose("runs/emoface-small", "OUT", split="test")
    write_diagnosis(d, "runs/emoface-small/diagnose")     # diagnose.json + diagnose.md

Three measures, with numbers (definitions in the modules that compute them):

1. **emotion classification** on actors the run never saw: the classifier head's accuracy
   (val and test), and linear probes of the time-mean emotion and content features fitted on
   the training split (:mod:`emoface.eval.diagnose_branches`); chance ``1/8``;
2. **region drive**: how many millimetres each region's predicted offsets move when the
   emotion (or content) branch's features are zeroed or swapped with another clip's, and the
   Mesh Attention weight and emotion share per region (:mod:`emoface.eval.diagnose_branches`);
3. **training curves** from ``metrics.json`` (do L_cls and L_cross decrease?) and the final
   checkpoint's losses on training and validation pairs (:mod:`emoface.eval.diagnose_curves`).

Single-branch runs get the content-side measures only. ``emoface diagnose`` is the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emoface.eval.workflow import MissingSplitError, split_file

__all__ = ["Diagnosis", "diagnose", "diagnosis_dict", "render_diagnosis", "write_diagnosis", "MissingSplitError"]


@dataclass
class Diagnosis:
    """Everything :func:`diagnose` measured (``diagnosis_dict`` is its JSON form)."""

    run: str
    checkpoint: str
    description: str
    split: str
    data: str
    emotion: object  # EmotionClassification
    drive: object  # RegionDrive
    curves: dict
    losses: dict[str, dict]  # "train" / held-out split -> final_losses(...)


def diagnose(run: str | Path, data: str | Path, split: str = "test", *, max_clips: int | None = None,
             max_pairs: int | None = 24, which: str = "best", device: str = "cpu",
             progress: Callable[[str], None] | None = None) -> Diagnosis:
    """The three measures of ``run`` (its ``which`` checkpoint) with ``data/train.h5`` and the held-out ``split``.

    ``max_clips`` limits the held-out clips of the region measure (every clip is encoded for the
    emotion measures: that is cheap); ``max_pairs`` the pairs of the final losses. The final
    losses use ``val.h5`` when it is there, else ``split``. Errors: :class:`MissingSplitError`
    (a split file is absent), ``RunSetupError`` (no run there or another topology),
    :class:`~emoface.eval.diagnose_curves.CurvesError` (no ``metrics.json``).
    """
    import numpy as np

    from emoface.data.dataset import MeshSeqDataset
    from emoface.data.schema import require_valid_split
    from emoface.eval.diagnose_branches import emotion_classification, encode_clips, region_drive
    from emoface.eval.diagnose_curves import final_losses, read_curves
    from emoface.eval.methods import describe_run
    from emoface.train.checkpoint import RunSetupError, find_checkpoint, load_run

    say = progress or (lambda _msg: None)
    run, data = Path(run), Path(data)
    if data.suffix == ".h5":
        raise MissingSplitError(f"{data}: --data is the dataset folder (train.h5 and {split}.h5), not one split file")
    held_path, train_path = split_file(data, split), split_file(data, "train")
    val_path = data / "val.h5"
    for p in {held_path, train_path} | ({val_path} if val_path.is_file() else set()):
        require_valid_split(p)
    find_checkpoint(run, which)  # no run there: RunSetupError before any work
    read_curves(run)  # a missing metrics.json fails before the model is loaded
    model, cfg, meta = load_run(run, device, which)
    curves = read_curves(run, model.cfg.n_emotions)
    train_ds = MeshSeqDataset(train_path, meta.speakers)
    if train_ds.faces.shape != meta.faces.shape or (train_ds.faces != meta.faces).any():
        raise RunSetupError(f"{run}: the run was trained on another topology than {train_path}'s")
    say("encoding the training clips")
    train_feats = encode_clips(model, train_ds)
    held = {}
    for name, path in (("val", val_path), (split, held_path)):
        if path.is_file() and name not in held:
            say(f"encoding {path.name}")
            held[name] = encode_clips(model, MeshSeqDataset(path, meta.speakers))
    emotion = emotion_classification(model.cfg.n_emotions, train_feats, held, split)
    say(f"region drive on {held_path.name}")
    held_ds = MeshSeqDataset(held_path, meta.speakers)
    drive = region_drive(model, held_ds, {k: np.asarray(v) for k, v in held_ds.regions.items()}, max_clips)
    say("final losses")
    loss_split = val_path if val_path.is_file() else held_path
    losses = {"train": final_losses(model, train_path, meta.speakers, cfg.loss, max_pairs),
              loss_split.stem: final_losses(model, loss_split, meta.speakers, cfg.loss, max_pairs)}
    return Diagnosis(str(run), str(find_checkpoint(run, which)), describe_run(cfg), split, str(data), emotion, drive,
                     curves, losses)


def diagnosis_dict(d: Diagnosis) -> dict:
    """The JSON form of a :class:`Diagnosis` (curves as their ``TermCurve`` dicts)."""
    curves = {**d.curves, "train": {k: v.to_dict() for k, v in d.curves["train"].items()},
              "val": {k: v.to_dict() for k, v in d.curves["val"].items()}}
    return {"run": d.run, "checkpoint": d.checkpoint, "description": d.description, "split": d.split, "data": d.data,
            "emotion": d.emotion.to_dict(), "drive": d.drive.to_dict(), "curves": curves, "losses": d.losses}


def _f(x, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def render_diagnosis(r: dict) -> str:
    """A short Markdown block of :func:`diagnosis_dict`'s result."""
    e, dr, cu = r["emotion"], r["drive"], r["curves"]
    held = [k for k in e["head"] if k != "train"] or [r["split"]]  # the head's splits (a single branch has none)
    lines = [f"### Diagnosis of `{Path(r['run']).name}` ({r['description']}), held-out split `{r['split']}`", "",
             f"**Emotion classification** (8 classes, chance {_f(e['chance'])}, majority share of `{r['split']}` "
             f"{_f(e['majority'])}):", "",
             "| what | " + " | ".join(["train", *held]) + " |", "|---" * (2 + len(held)) + "|"]
    if e["head"]:
        lines.append("| classifier head (L_cls) | " + " | ".join(_f(e["head"][k]["accuracy"]) for k in ["train", *held]) + " |")
    pad = " | –" * (len(held) - 1)  # the probes are scored on the diagnosed split, the last column
    if e["probe_emotion"]:
        lines.append(f"| probe on emotion features F_e | {_f(e['probe_train']['emotion'])}{pad} | {_f(e['probe_emotion']['accuracy'])} |")
    lines.append(f"| probe on content features F_c | {_f(e['probe_train']['content'])}{pad} | {_f(e['probe_content']['accuracy'])} |")
    regs = list(dr["regions"])
    lines += ["", f"**Region drive** (mean over {max(dr['n_clips'].values(), default=0)} `{r['split']}` clips, mm: how far each "
              "region's predicted offsets move when a branch's features are replaced):", "",
              "| | " + " | ".join(f"{g} ({dr['regions'][g]})" for g in regs) + " |", "|---" * (1 + len(regs)) + "|"]
    for name, per in dr["drive"].items():
        lines.append(f"| {name.replace('_', ' ')} | " + " | ".join(_f(per[g], 2) for g in regs) + " |")
    lines.append("| size of the prediction | " + " | ".join(_f(dr["prediction"][g], 2) for g in regs) + " |")
    lines.append("| size of the ground truth | " + " | ".join(_f(dr["ground_truth"][g], 2) for g in regs) + " |")
    if dr.get("emotion_swap_truth"):
        lines.append("| ground truth: clip vs its other-emotion partner | "
                     + " | ".join(_f(dr["emotion_swap_truth"][g], 2) for g in regs) + " |")
    if dr["weight"]:
        lines.append("| Mesh Attention weight of the emotion branch | " + " | ".join(_f(dr["weight"][g]) for g in regs) + " |")
    if dr["emotion_share"]:
        lines.append("| emotion branch's share of the fused motion | " + " | ".join(_f(dr["emotion_share"][g]) for g in regs) + " |")
    lines += ["", f"**Training curves** ({cu['epochs']} epochs, `metrics.json`; training mode; decreased = last < 0.9 x "
              f"first; L_cls of a uniform guess: {cu['chance_classification']:.3f}):", "",
              "| term | first | last | min (epoch) | last/first | decreased |", "|---|---|---|---|---|---|"]
    for part in ("train", "val"):
        for term, c in cu[part].items():
            lines.append(f"| {part} {term} | {c['first']:.4g} | {c['last']:.4g} | {c['min']:.4g} ({c['min_epoch']}) | "
                         f"{_f(c['ratio'], 2)} | {'yes' if c['decreased'] else 'no'} |")
    ls = r["losses"]
    keys = [k for k in ("self", "cross", "velocity", "classification", "head_accuracy") if k in ls.get("train", {})]
    lines += ["", "**Final losses** (the checkpoint in eval mode, teacher-forced, on cross-reconstruction pairs; "
              "unweighted):", "", "| split | pairs | " + " | ".join(keys) + " |", "|---" * (2 + len(keys)) + "|"]
    for split, v in ls.items():
        lines.append(f"| {split} | {v['n_pairs']} | " + " | ".join(f"{v[k]:.4g}" for k in keys) + " |")
    return "\n".join(lines) + "\n"


def write_diagnosis(d: Diagnosis | dict, out_dir: str | Path) -> tuple[Path, Path]:
    """``out_dir/diagnose.json`` and ``out_dir/diagnose.md`` (atomic writes); their paths."""
    from emoface.utils.atomic import atomic_write, write_json_atomic

    r = d if isinstance(d, dict) else diagnosis_dict(d)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "diagnose.json", r)
    with atomic_write(out / "diagnose.md", "w") as f:
        f.write(render_diagnosis(r))
    return out / "diagnose.json", out / "diagnose.md"
