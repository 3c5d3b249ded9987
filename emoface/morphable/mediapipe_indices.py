"""Every MediaPipe Face Mesh index the project uses, in one place.

MediaPipe's Face Landmarker returns 478 points: the 468 of the canonical face mesh
(``canonical_face_model.obj``; the demo head is built from it, so its vertex ``i`` is
MediaPipe point ``i``) and 10 iris points. The contours below are read off MediaPipe's
``FaceLandmarksConnections`` sets (``tests/emoface/morphable/test_mediapipe_indices.py``
checks them against the installed ``mediapipe``). ``emoface`` never imports ``pipeline``,
so the pipeline (detectors, fitting, QA, synthetic corpus) imports its indices from here.

``MEDIAPIPE_TO_IBUG68`` maps iBUG-68 point k (0-based) to a MediaPipe-478 index. It is the
single-index correspondence that circulates widely in public face-tracking code (for
example LatentSync 1.5, ByteDance, Apache-2.0, and many MediaPipe-to-dlib converters); its
jaw points follow MediaPipe's face oval, which lies close to but not exactly on the iBUG
jawline, so jaw points deserve a lower weight in fitting. It is how the demo head (whose
vertices are MediaPipe points) gets its ``ibug68`` landmark embedding, and how a detector
in the iBUG-68 scheme (face-alignment's FAN) is matched to a MediaPipe embedding.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "N_MESH_POINTS", "N_LANDMARKS",
    "UPPER_LIP_MID", "LOWER_LIP_MID", "MOUTH_PAIR", "INNER_LIP_UPPER", "INNER_LIP_LOWER", "INNER_LIP_LOOP",
    "OUTER_LIP_LOOP", "INNER_LIP_PAIRS", "RIGHT_EYE", "LEFT_EYE", "EYE_CORNERS", "OUTER_EYE_CORNERS",
    "ALL_EYE_CORNERS", "BROW_POINTS", "CHIN", "NOSE_TIP", "SUBNASALE", "LIP_CORNERS_OUTER",
    "LIP_CORNERS_INNER",
    "LIPS", "EYES", "BROWS", "OVAL", "NOSE",
    "MEDIAPIPE_TO_IBUG68", "IBUG68_OUTER_EYE_CORNERS",
]

#: points of the canonical face mesh (the demo head's vertices) and of a Face Landmarker result (+ 10 iris)
N_MESH_POINTS = 468
N_LANDMARKS = 478

# -- mouth -------------------------------------------------------------------------------------
#: midline inner-lip points (upper, lower): their distance is the mouth opening
UPPER_LIP_MID = 13
LOWER_LIP_MID = 14
MOUTH_PAIR = (UPPER_LIP_MID, LOWER_LIP_MID)
#: inner-lip contours, corner to corner (right corner 78, left corner 308)
INNER_LIP_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LIP_LOWER = (308, 324, 318, 402, 317, 14, 87, 178, 88, 95, 78)
INNER_LIP_LOOP = INNER_LIP_UPPER + INNER_LIP_LOWER[1:-1]
#: lip corners (right, left) of the outer and the inner contour
LIP_CORNERS_OUTER = (61, 291)
LIP_CORNERS_INNER = (78, 308)
OUTER_LIP_LOOP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
#: upper/lower inner-lip points facing each other across the mouth (corners excluded, midline
#: first); with the mouth closed each pair touches. The same pairs as zipping the two contours.
INNER_LIP_PAIRS = ((13, 14), (82, 87), (81, 178), (80, 88), (191, 95), (312, 317), (311, 402), (310, 318), (415, 324))

# -- eyes, brows, nose, chin ---------------------------------------------------------------
#: eye contours starting at the outer corner (the subject's right eye is on the image's left)
RIGHT_EYE = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
LEFT_EYE = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
#: (outer, inner) corner of each eye
EYE_CORNERS = {"right": (33, 133), "left": (263, 362)}
#: outer eye corners (right, left): the inter-ocular distance (iBUG "outer corners" 36/45)
OUTER_EYE_CORNERS = (EYE_CORNERS["right"][0], EYE_CORNERS["left"][0])
ALL_EYE_CORNERS = (33, 133, 362, 263)
#: middle and outer brow points (the brow height above the eye corners)
BROW_POINTS = (70, 63, 105, 46, 53, 52, 300, 293, 334, 276, 283, 282)
CHIN = 152
NOSE_TIP = 4
SUBNASALE = 2

# -- groups (FaceLandmarksConnections sets) ----------------------------------------------------
LIPS = np.array([0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267,
                 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415])
EYES = np.array([249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466,
                 7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246])
BROWS = np.array([276, 282, 283, 285, 293, 295, 296, 300, 334, 336, 46, 52, 53, 55, 63, 65, 66, 70, 105, 107])
OVAL = np.array([10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172, 176, 234, 251,
                 284, 288, 297, 323, 332, 338, 356, 361, 365, 377, 378, 379, 389, 397, 400, 454])
NOSE = np.array([1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344,
                 440])
for _group in (LIPS, EYES, BROWS, OVAL, NOSE):
    _group.setflags(write=False)

# -- iBUG-68 -----------------------------------------------------------------------------------
#: iBUG-68 (0-based) -> MediaPipe-478 index. Groups: jaw 0-16, brows 17-26, nose 27-35,
#: eyes 36-47, outer lips 48-59, inner lips 60-67.
MEDIAPIPE_TO_IBUG68 = np.array(
    [
        162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
        71, 63, 105, 66, 107, 336, 296, 334, 293, 301,
        168, 197, 5, 4, 75, 97, 2, 326, 305,
        33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
        61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
        78, 82, 13, 312, 308, 317, 14, 87,
    ],
    dtype=np.int32,
)  # fmt: skip
MEDIAPIPE_TO_IBUG68.setflags(write=False)
#: the iBUG-68 points of the outer eye corners (the MediaPipe ones mapped through the table)
IBUG68_OUTER_EYE_CORNERS = tuple(int(np.nonzero(MEDIAPIPE_TO_IBUG68 == k)[0][0]) for k in OUTER_EYE_CORNERS)
