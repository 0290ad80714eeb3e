"""Training a round: device-resident batches, masks enforced after every step, checkpoints."""

from pipeline.train.loop import EpochRecord, TrainResult, evaluate, train, trained_epochs, training_device
from pipeline.train.masking import ModelMasks

__all__ = ["EpochRecord", "ModelMasks", "TrainResult", "evaluate", "train", "trained_epochs", "training_device"]
