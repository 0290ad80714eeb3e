"""Data sets: what each provides (shape, classes), how to read it, how to batch it.

The registry is light; readers and device batching (torch) load on first use.
"""

from typing import Any

from pipeline.data.registry import DATASETS, DatasetInfo, get_dataset_info

_LAZY = {
    "DeviceData": "pipeline.data.device",
    "MissingDataError": "pipeline.data.sources",
    "Splits": "pipeline.data.sources",
    "load_splits": "pipeline.data.sources",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pipeline.data' has no attribute {name!r}")


__all__ = ["DATASETS", "DatasetInfo", "get_dataset_info", *_LAZY]
