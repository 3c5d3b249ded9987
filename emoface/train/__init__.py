"""Training: :func:`train` runs an experiment into a run folder and returns a :class:`TrainResult`."""

from emoface.train.workflow import RunFolderError, TrainResult, train

__all__ = ["train", "TrainResult", "RunFolderError"]
