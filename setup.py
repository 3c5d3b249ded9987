"""Package layout that pyproject.toml cannot express: the repository's ``configs/`` folder ships
in the wheel as ``emoface/configs/`` (one copy of each config, in ``configs/``; see
``emoface/utils/resources.py``). Everything else is declared in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["emoface*", "pipeline*"]), "emoface.configs"],
    package_dir={"emoface.configs": "configs"},
    package_data={
        "emoface.configs": ["*.yaml"],
        "emoface.morphable": ["assets/*"],
        "pipeline.sources.synth": ["photos/*"],  # the face photographs and their NOTICE.md
    },
)
