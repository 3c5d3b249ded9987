"""The stages of a dataset build; :data:`REGISTRY` declares each once (``python -m pipeline.stages`` lists them)."""

from pipeline.stages.registry import REGISTRY, Stage, StageRegistry, TaskKind

__all__ = ["REGISTRY", "Stage", "StageRegistry", "TaskKind"]
