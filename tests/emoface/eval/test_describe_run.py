"""emoface.eval.methods.describe_run: the report's description of a trained run."""

from emoface.eval.methods import describe_run
from emoface.train.config import ExperimentConfig
from emoface.utils.config import from_dict


def _cfg(**model):
    return from_dict(ExperimentConfig, {"model": model}, "config")


def test_descriptions_name_the_ablation_and_a_dilation():
    assert describe_run(_cfg()) == "EmoFace (Mesh Attention), self-growing training"
    assert describe_run(_cfg(mesh_attention={"dilation": 2})) == \
        "EmoFace (Mesh Attention, SpiralConv3D dilation 2), self-growing training"
    assert describe_run(_cfg(single_branch=True)).startswith("FaceFormer-style single branch")
    assert describe_run(_cfg(fusion="add")).startswith("EmoFace, add instead of Mesh Attention")
