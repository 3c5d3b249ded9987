"""``python -m pipeline.stages``: list the registered stages (imports nothing heavy)."""

from pipeline.stages.registry import REGISTRY

print(REGISTRY.describe())
