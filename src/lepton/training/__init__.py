"""Training: ``lepton.train`` and the callbacks it takes."""

from lepton.training._callbacks import Callback, EarlyStopping, ModelCheckpoint
from lepton.training._result import TrainResult
from lepton.training._train import train

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "TrainResult", "train"]
