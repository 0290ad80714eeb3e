"""Data sets: what each provides (shape, classes), how to read it, how to batch it.

The registry is light; readers and device batching (torch) load on first use.
"""

from pipeline.data.registry import DATASETS, DatasetInfo, get_dataset_info
from pipeline.lazy import lazy_attributes

_LAZY = {
    "DeviceData": "pipeline.data.device",
    "MissingDataError": "pipeline.data.sources",
    "Splits": "pipeline.data.sources",
    "load_splits": "pipeline.data.sources",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = ["DATASETS", "DatasetInfo", "get_dataset_info", *_LAZY]
