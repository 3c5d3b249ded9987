"""The rendered mouth: the photo's lip band is kept inside the detected contour, and a closed
mouth is seen closed by the detector (a dark band between the lips reads as a parted mouth)."""

import numpy as np
import pytest

from pipeline.sources.synth.config import SynthConfig
from pipeline.sources.synth.state import face_rig, make_clip_actor, resources
from pipeline.sources.synth.face import INNER_LIP_LOOP, INNER_LIP_PAIRS as LIP_PAIRS, lip_margins

CFG = SynthConfig(photos=("astronaut",))  # the smiling photo: its lip margins are measured here


@pytest.fixture(scope="module")
def state():
    return resources(CFG)


def test_lip_margins_of_the_photo(state):
    from pipeline.sources.synth.photoset import registered_photo

    photo = registered_photo("astronaut")
    m = lip_margins(photo.image, photo.landmarks)
    assert m.shape == (len(LIP_PAIRS), 2) and (m >= 0).all()
    gaps = np.array([np.linalg.norm(photo.landmarks[u] - photo.landmarks[lo]) for u, lo in LIP_PAIRS])
    assert (m.sum(1) <= gaps + 1e-4).all()
    # the detector puts the smiling photo's upper inner lip on the lip, above the teeth
    mid = [i for i, (u, _) in enumerate(LIP_PAIRS) if u in (81, 82, 13, 312)]
    assert (m[mid, 0] > 0.5).all()
    # an image without lip/teeth contrast keeps the contour
    grey = np.full_like(photo.image, 128)
    assert not lip_margins(grey, photo.landmarks).any()


def test_opening_closes_narrow_gaps_and_insets_open_ones(state):
    rig = face_rig(make_clip_actor(2, CFG, 0), CFG, 0)
    up, lo = rig._pair_u, rig._pair_l  # positions in INNER_LIP_LOOP
    loop = np.array(INNER_LIP_LOOP)
    margin = rig.lip_margin
    pix = np.zeros((468, 2))
    x = np.linspace(-16, 16, len(LIP_PAIRS))
    pix[loop[up], 0] = x  # each upper point straight above its lower one
    pix[loop[lo], 0] = x
    for gap, closed in ((0.5 * margin.sum(1).min(), True), (margin.sum(1).max() + 10.0, False)):
        p = pix.copy()
        p[loop[lo], 1] = gap
        o = rig.opening(p)
        if closed:
            np.testing.assert_allclose(o[up], o[lo], atol=1e-9)
        else:
            np.testing.assert_allclose(o[up, 1], margin[:, 0], atol=1e-9)
            np.testing.assert_allclose(o[lo, 1], gap - margin[:, 1], atol=1e-9)


def test_detector_sees_a_closed_mouth_at_rest(state):
    from pipeline.landmarker import FaceLandmarker

    errs = []
    with FaceLandmarker(mode="image") as det:
        for a in (1, 2, 3):
            actor = make_clip_actor(a, CFG, 0)
            rig = face_rig(actor, CFG, 0)
            pts = rig.points(rig.rest[None], actor.rest_rotation[None], actor.rest_translation[None], np.zeros((1, 3)))[0]
            d = det.detect(rig.render(pts).copy())
            assert d is not None
            gap = lambda p: p[14, 1] - p[13, 1]  # noqa: E731
            errs.append(gap(d.landmarks[:, :2]) - gap(pts.pix))
    # with the darkening bleeding into the lips the detector read +2.5 to +6 px here
    assert abs(np.mean(errs)) < 1.5, errs
