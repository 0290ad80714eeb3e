"""Data sets: what each provides (shape, classes), how to read it, how to batch it."""

from pipeline.data.device import DeviceData
from pipeline.data.registry import DATASETS, DatasetInfo, get_dataset_info
from pipeline.data.sources import MissingDataError, Splits, load_splits

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DeviceData",
    "MissingDataError",
    "Splits",
    "get_dataset_info",
    "load_splits",
]
