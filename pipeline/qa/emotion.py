"""Corpus-level measures against the truth: offset errors summarised, emotion recognisability.

Both need every clip with ground truth, so the report stage computes them (not the per-clip
QA). Definitions: docs/fitting.md ("Measures against the truth"), :mod:`emoface.eval.offsets`
and :mod:`emoface.eval.recognisability`.

- :func:`offset_summary`: per region, ``total``/``dynamic`` (and ``true_total``/``true_dynamic``)
  averaged over all frames of all clips (frame-weighted), ``static``/``true_static`` averaged
  over clips; ``by_photo`` repeats it per photo id when the ground truth records one.
- :func:`static_split`: the static offset error (each clip's mean offset against the truth's) split
  into the part all of an actor's clips share (the actor's mean error: its template's, not an
  emotion's) and the part that varies from clip to clip; the truth's own static offsets split the
  same way; overall and per photo.
- :func:`corpus_recognisability`: leave-one-actor-out accuracy of the standardised
  nearest-centroid classifier on the fitted meshes' expression features and on the true
  meshes' (same folds), overall and per emotion; per photo (the folds then run within
  that photo's actors) when the ground truth records photos.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np

from emoface.eval.offsets import MEASURE_KEYS
from emoface.eval.recognisability import feature_indices, recognisability

__all__ = ["offset_summary", "corpus_recognisability", "static_split", "ClipFeatures", "emotion_name", "emotion_order",
           "measures_html", "feature_region_codes", "region_masks", "FEATURE_KEYS", "SPLIT_REGIONS"]

FEATURE_KEYS = {"fitted": "gt_expression_feature_fit", "truth": "gt_expression_feature_true"}
#: the regions :func:`static_split` reports; the QA arrays' ``gt_expression_feature_region`` codes them 1, 2
SPLIT_REGIONS = ("lips", "eye_region")
REGION_KEY = "gt_expression_feature_region"
_FRAME_WEIGHTED = ("total", "dynamic", "true_total", "true_dynamic")


def emotion_name(code: Any) -> str:
    """RAVDESS emotion code (1-based) -> name; anything else as text."""
    from emoface.data.ravdess import EMOTIONS

    try:
        k = int(code)
    except (TypeError, ValueError):
        return "" if code is None else str(code)
    return EMOTIONS[k - 1] if 1 <= k <= len(EMOTIONS) else str(code)


def emotion_order(names: Sequence[str]) -> list[str]:
    """``names`` without repeats, in RAVDESS order (other labels after them, as first seen)."""
    from emoface.data.ravdess import EMOTIONS

    uniq = list(dict.fromkeys(names))
    return sorted(uniq, key=lambda e: (EMOTIONS.index(e) if e in EMOTIONS else len(EMOTIONS), uniq.index(e)))


def _region_means(items: Sequence[tuple[dict, int]]) -> dict[str, dict[str, float]]:
    """``items``: (a clip's ``offset_error_mm``, its frame count)."""
    regions = sorted({r for o, _ in items for r in o}, key=lambda r: ("face", "lips", "eye_region").index(r)
                     if r in ("face", "lips", "eye_region") else 9)
    out = {}
    for region in regions:
        vals = [(o[region], n) for o, n in items if region in o]
        res = {}
        for key in MEASURE_KEYS:
            v = np.array([x.get(key) for x, _ in vals], np.float64)
            w = np.array([n for _, n in vals], np.float64) if key in _FRAME_WEIGHTED else np.ones(len(vals))
            ok = np.isfinite(v) & (w > 0)
            res[key] = float(np.average(v[ok], weights=w[ok])) if ok.any() else None
        res["clips"] = len(vals)
        out[region] = res
    return out


def offset_summary(metrics: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Summary of the clips' ``ground_truth.offset_error_mm`` (``metrics``: the clips' QA metrics)."""
    items, photos = [], []
    for m in metrics:
        g = m.get("ground_truth") or {}
        o = g.get("offset_error_mm")
        if o:
            items.append((o, int(g.get("frames_compared") or m.get("n_frames") or 0)))
            photos.append(g.get("photo"))
    if not items:
        return None
    out: dict[str, Any] = {"clips": len(items), "regions": _region_means(items)}
    if any(p is not None for p in photos):
        out["by_photo"] = {str(p): _region_means([it for it, q in zip(items, photos) if q == p])
                           for p in sorted({str(p) for p in photos})}
    return out


@dataclass
class ClipFeatures:
    """The expression features ``(D,)`` of the clips with ground truth, their emotion, actor and photo."""

    fitted: list[np.ndarray] = field(default_factory=list)
    truth: list[np.ndarray] = field(default_factory=list)
    emotion: list[str] = field(default_factory=list)
    actor: list[str] = field(default_factory=list)
    photo: list[str | None] = field(default_factory=list)
    regions: np.ndarray | None = None  # (R,) each feature vertex's SPLIT_REGIONS code, when the arrays hold it

    def add(self, arrays: Mapping[str, np.ndarray], emotion: Any, actor: Any, photo: str | None = None) -> bool:
        """Add one clip when its arrays hold both features; returns whether it was added."""
        f, t = arrays.get(FEATURE_KEYS["fitted"]), arrays.get(FEATURE_KEYS["truth"])
        if f is None or t is None or emotion is None or actor is None:
            return False
        codes = arrays.get(REGION_KEY)
        if codes is not None and self.regions is None and not len(self):
            self.regions = np.asarray(codes, np.int64).reshape(-1)
        elif codes is None or (self.regions is not None and not np.array_equal(self.regions, np.asarray(codes).reshape(-1))):
            self.regions = None  # a clip without the codes (or with others): no split
        self.fitted.append(np.asarray(f, np.float64).reshape(-1))
        self.truth.append(np.asarray(t, np.float64).reshape(-1))
        self.emotion.append(emotion_name(emotion))
        self.actor.append(str(actor))
        self.photo.append(None if photo is None else str(photo))
        return True

    def __len__(self) -> int:
        return len(self.emotion)


def _score(feats: ClipFeatures, keep: np.ndarray) -> dict[str, Any]:
    y = np.asarray(feats.emotion, dtype=object)[keep]
    groups = np.asarray(feats.actor, dtype=object)[keep]
    n_groups = len(set(groups.tolist()))
    if n_groups < 2 or len(set(y.tolist())) < 2:
        return {"clips": int(keep.sum()), "actors": n_groups,
                "note": "needs clips of at least 2 actors and 2 emotions"}
    out: dict[str, Any] = {"clips": int(keep.sum()), "actors": n_groups}
    for name in ("fitted", "truth"):
        X = np.stack(getattr(feats, name))[keep]
        out[name] = recognisability(X, y, groups).as_dict()
    out["chance"] = out["truth"]["chance"]
    return out


def corpus_recognisability(feats: ClipFeatures, extra: Mapping[str, Sequence[np.ndarray]] | None = None) -> dict[str, Any] | None:
    """Leave-one-actor-out recognisability of the fitted and the true features (``None`` without clips).

    ``extra``: more feature sets, one ``(D,)`` per clip in ``feats``' order (e.g. the oracle's),
    scored with the same folds.
    """
    if not len(feats):
        return None
    everything = np.ones(len(feats), bool)
    out = _score(feats, everything)
    for name, X in (extra or {}).items():
        if "note" not in out:
            out[name] = recognisability(np.stack(X), np.asarray(feats.emotion, dtype=object),
                                        np.asarray(feats.actor, dtype=object)).as_dict()
    photos = sorted({p for p in feats.photo if p is not None})
    if photos:
        out["by_photo"] = {}
        for p in photos:
            keep = np.array([q == p for q in feats.photo])
            res = _score(feats, keep)
            for name, X in (extra or {}).items():
                if "note" not in res:
                    res[name] = recognisability(np.stack(X)[keep], np.asarray(feats.emotion, dtype=object)[keep],
                                                np.asarray(feats.actor, dtype=object)[keep]).as_dict()
            out["by_photo"][p] = res
    return out


def _split(err: np.ndarray, actors: np.ndarray, masks: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """``err (n, R, 3)`` metres per clip -> per region the mean vertex norm (mm, mean over clips) of ``err``, of
    each clip's actor mean of ``err`` (``common``) and of the rest, and the common part's RMS along x, y, z (mm)."""
    common = np.empty_like(err)
    for a in np.unique(actors):
        common[actors == a] = err[actors == a].mean(0)
    out = {}
    for name, m in masks.items():
        def mm(x: np.ndarray) -> float:
            return float(1000 * np.linalg.norm(x[:, m], axis=-1).mean())

        out[name] = {"static": mm(err), "common": mm(common), "per_clip": mm(err - common),
                     "common_rms_xyz": [float(1000 * np.sqrt(np.mean(common[:, m, k] ** 2))) for k in range(3)]}
    return out


def static_split(feats: ClipFeatures, masks: Mapping[str, np.ndarray],
                 extra: Mapping[str, Sequence[np.ndarray]] | None = None) -> dict[str, Any] | None:
    """The static offset errors of the clips in ``feats`` split into what an actor's clips share and what varies.

    A clip's static error is its mean offset minus the truth's (the expression features: ``(3 R,)``
    metres over the feature vertices); ``masks`` selects each region's vertices among those ``R``.
    Per region (mm, the mean over the region's vertices and the clips): ``static`` (as in
    :func:`offset_summary`), ``common`` (each clip's actor mean of the error: an error of the actor's
    template, the same in every emotion) and ``per_clip`` (the rest: what differs between the
    actor's clips, where the emotions are). Mean vertex norms do not add; with few clips per actor
    the per-clip part is also smaller than it would be with many (an actor's mean is then closer to
    each clip); ``common_rms_xyz``: the common part's RMS along x, y and z. ``fitted``, ``truth`` (the
    true static offsets themselves, split the same way: how much of them all of an actor's clips
    share) and each of ``extra`` (e.g. the oracle's features, one per clip in ``feats``' order);
    ``by_photo`` when the clips record photos. ``None`` without clips.
    """
    if not len(feats):
        return None
    masks = {k: np.asarray(v, bool) for k, v in masks.items()}
    truth = np.stack(feats.truth).reshape(len(feats), -1, 3)
    sets = {"fitted": np.stack(feats.fitted).reshape(len(feats), -1, 3) - truth, "truth": truth,
            **{k: np.stack(v).reshape(len(feats), -1, 3) - truth for k, v in (extra or {}).items()}}
    actors = np.asarray(feats.actor, dtype=object)

    def one(keep: np.ndarray) -> dict[str, Any]:
        return {"clips": int(keep.sum()), **{k: _split(e[keep], actors[keep], masks) for k, e in sets.items()}}

    out = one(np.ones(len(feats), bool))
    photos = sorted({p for p in feats.photo if p is not None})
    if photos:
        out["by_photo"] = {p: one(np.array([q == p for q in feats.photo])) for p in photos}
    return out


def feature_region_codes(regions: Mapping[str, Sequence[int] | np.ndarray]) -> np.ndarray:
    """``(R,)`` which of :data:`SPLIT_REGIONS` each expression-feature vertex is in (1-based; 0: none), in the
    order of :func:`emoface.eval.recognisability.feature_indices` of the model's ``regions``."""
    idx = feature_indices(regions)
    codes = np.zeros(len(idx), np.int8)
    for code, name in enumerate(SPLIT_REGIONS, 1):
        if name in regions:
            codes[np.isin(idx, np.asarray(regions[name]))] = code
    return codes


def region_masks(codes: np.ndarray | None) -> dict[str, np.ndarray]:
    """``{region: (R,) bool}`` of :data:`SPLIT_REGIONS` among the feature vertices, from their codes
    (:func:`feature_region_codes`, or :attr:`ClipFeatures.regions`); empty without codes."""
    if codes is None:
        return {}
    return {name: codes == code for code, name in enumerate(SPLIT_REGIONS, 1) if (codes == code).any()}


def _fmt(v: Any, f: str = "{:.2f}") -> str:
    return "-" if v is None else f.format(v)


def measures_html(offsets: Mapping[str, Any] | None, recog: Mapping[str, Any] | None,
                  split: Mapping[str, Any] | None = None, oracle: Mapping[str, Any] | None = None) -> str:
    """HTML tables of the corpus measures (empty string when none exists): offsets, ``split``
    (:func:`static_split`) and recognisability; with ``oracle`` (the report's ``ground_truth.oracle``
    summary) the oracle's values beside the build's in each."""
    parts = []
    o_offsets = (oracle or {}).get("offset_error_mm")
    if o_offsets and offsets and o_offsets.get("clips") != offsets.get("clips"):
        o_offsets = None  # the oracle of some clips only: its means are not the same clips' floor (JSON has them)
    if offsets:
        parts.append(f"<h2>Offsets against the truth ({offsets['clips']} clips)</h2>")
        o_groups = {"all": (o_offsets or {}).get("regions") or {},
                    **{f"photo {p}": r for p, r in ((o_offsets or {}).get("by_photo") or {}).items()}}
        groups = [("all", offsets["regions"])] + [(f"photo {p}", r) for p, r in (offsets.get("by_photo") or {}).items()]
        trs = []
        for label, regions in groups:
            for region, r in regions.items():
                o = (o_groups.get(label) or {}).get(region) or {}

                def cell(k: str) -> str:
                    return " / ".join([_fmt(r[k])] + ([_fmt(o.get(k))] if o_offsets else []) + [_fmt(r[f"true_{k}"])])

                trs.append("<tr>" + "".join(f"<td>{escape(str(x))}</td>" for x in (
                    label, region, cell("total"), cell("static"), cell("dynamic"), r["clips"])) + "</tr>")
        what = "error / oracle / truth" if o_offsets else "error / truth"
        parts.append(f'<table class="summary"><thead><tr><th>group</th><th>region</th><th>offset {what} mm</th>'
                     f"<th>static {what} mm</th><th>dynamic {what} mm</th><th>clips</th></tr></thead><tbody>"
                     + "".join(trs) + "</tbody></table>")
        parts.append('<p class="note">Offset: each frame minus the actor\'s template (fitted against true). Static: the '
                     "clip-mean offset (the held expression); dynamic: each frame's offset minus the clip mean. Errors "
                     "beside the truth's own magnitude; definitions in docs/fitting.md.</p>")
    if oracle:
        mr = (oracle.get("mouth_correlation") or {}).get("mean")
        noise = "" if oracle.get("noise_px") is None else f" + {oracle['noise_px']:g} px noise"
        shown = "" if o_offsets or not oracle.get("clips") else " Not in the tables: it covers only some of the clips."
        parts.append(f'<p class="note">Oracle: the same fit of {oracle.get("clips", 0)} clips from their true landmark '
                     f"positions{noise} instead of the detector's (the floor of each measure for this fit; "
                     f"docs/fitting.md, \"The oracle\"); its mouth-opening r {_fmt(mr, '{:.3f}')}.{shown}"
                     + "".join(f" {escape(str(n))}." for n in (oracle.get("errors") or []) + ([oracle["note"]] if oracle.get("note") else []))
                     + "</p>")
    if split:
        with_oracle = "oracle" in split
        groups = [("all", split)] + [(f"photo {p}", g) for p, g in (split.get("by_photo") or {}).items()]
        trs = []
        for label, g in groups:
            for region, r in (g.get("fitted") or {}).items():
                t = (g.get("truth") or {}).get(region) or {}
                o = (g.get("oracle") or {}).get(region) or {}
                trs.append("<tr>" + "".join(f"<td>{escape(str(x))}</td>" for x in (
                    label, region, *(" / ".join([_fmt(r.get(k))] + ([_fmt(o.get(k))] if with_oracle else []) + [_fmt(t.get(k))])
                                     for k in ("static", "common", "per_clip")),
                    g["clips"])) + "</tr>")
        what = "error / oracle / truth" if with_oracle else "error / truth"
        parts.append(f"<h2>Static offset error: common to an actor's clips, or per clip ({split['clips']} clips)</h2>")
        parts.append(f'<table class="summary"><thead><tr><th>group</th><th>region</th><th>static {what} mm</th>'
                     f"<th>common {what} mm</th><th>per-clip {what} mm</th><th>clips</th></tr></thead><tbody>"
                     + "".join(trs) + "</tbody></table>")
        parts.append('<p class="note">The static error split into the part all of an actor\'s clips share (the same in '
                     "every emotion: its template's error or a bias in every clip alike) and the part that varies between "
                     "its clips (where the emotions are); the truth's own held expression split the same way. Definitions "
                     "in docs/fitting.md (\"What an actor's clips share\").</p>")
    if recog:
        parts.append(f"<h2>Emotion recognisability ({recog['clips']} clips, {recog['actors']} actors)</h2>")
        groups = [("all", recog)] + [(f"photo {p}", r) for p, r in (recog.get("by_photo") or {}).items()]
        trs = []
        emotions = emotion_order([e for _, r in groups for k in ("truth", "fitted")
                                  for e in (r.get(k) or {}).get("per_class", {})])
        sets = [k for k in recog if k not in ("clips", "actors", "chance", "by_photo", "note")]
        sets.sort(key=lambda k: ("fitted", "oracle", "truth").index(k) if k in ("fitted", "oracle", "truth") else 3)
        for label, r in groups:
            if "note" in r:
                trs.append(f"<tr><td>{escape(label)}</td><td colspan={len(emotions) + 2}>{escape(r['note'])}</td></tr>")
                continue
            for k in sets:
                s = r.get(k)
                if not s:
                    continue
                pc = s["per_class"]
                trs.append("<tr>" + "".join(f"<td>{escape(x)}</td>" for x in (
                    label, k, _fmt(s["accuracy"]), *(_fmt(pc.get(e)) for e in emotions))) + "</tr>")
        parts.append('<table class="summary"><thead><tr><th>group</th><th>meshes</th><th>accuracy</th>'
                     + "".join(f"<th>{escape(e)}</th>" for e in emotions) + "</tr></thead><tbody>" + "".join(trs)
                     + "</tbody></table>")
        chance = recog.get("chance")
        parts.append('<p class="note">Each clip\'s emotion predicted from its clip-mean offset over the lips, eye '
                     "region and forehead by a standardised nearest-centroid classifier fitted on the other actors' "
                     f"clips (leave one actor out; the same folds for fitted and true meshes); chance {_fmt(chance)}.</p>")
    return "".join(parts)
