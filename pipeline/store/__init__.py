"""Persistence: the one home of file paths and of the HDF5 round-file schema."""

from pipeline.store.key import RoundKey
from pipeline.store.paths import checkpoint_dir, round_file
from pipeline.store.runfile import (
    SCHEMA_VERSION,
    DiagramRecord,
    NetworkRecord,
    RoundData,
    RoundFileError,
    read_attrs,
    read_round,
    write_round,
)

__all__ = [
    "SCHEMA_VERSION",
    "DiagramRecord",
    "NetworkRecord",
    "RoundData",
    "RoundFileError",
    "RoundKey",
    "checkpoint_dir",
    "read_attrs",
    "read_round",
    "round_file",
    "write_round",
]
