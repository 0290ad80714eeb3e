"""Data sets: what each provides (shape, classes) and how to load it."""

from pipeline.data.registry import DATASETS, DatasetInfo, get_dataset_info

__all__ = ["DATASETS", "DatasetInfo", "get_dataset_info"]
