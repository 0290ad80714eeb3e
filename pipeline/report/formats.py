"""Render a table as aligned text, CSV, JSON or Markdown — one place for every CLI and rule."""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd

Format = Literal["table", "csv", "json", "markdown"]
FORMATS: tuple[str, ...] = ("table", "csv", "json", "markdown")


def _number(value: object) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.5f}" if abs(value) >= 1e-4 or value == 0 else f"{value:.3e}"
    return str(value)


def render(frame: pd.DataFrame, fmt: Format) -> str:
    """The frame in the requested format; missing values are empty cells (JSON null)."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "json":
        return frame.to_json(orient="records", indent=2) + "\n"
    text = frame.astype(object).map(_number)
    if fmt == "markdown":
        return text.to_markdown(index=False) + "\n"
    if fmt == "table":
        return text.to_string(index=False) + "\n"
    raise ValueError(f"format {fmt!r}: allowed values are {FORMATS}")
