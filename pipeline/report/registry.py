"""The report's figures and tables, registered by name.

A figure is a function that draws one PNG from a pair's collected runs; a table is a function of
the collected runs that returns a data frame. Each has a caption (``workflow/report/{figure,
table}_{name}.rst``). The report command line, the aggregate rules and the HTML report iterate
these registries, so adding a figure is its function, its caption and its test. Importing this
module is light; ``figures()`` and ``tables()`` load the modules that register them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.store.paths import caption_name


@dataclass(frozen=True)
class Entry:
    """A registered figure or table: its name, what makes it, and its caption file's name."""

    name: str
    make: Callable[..., Any]
    kind: str

    @property
    def caption(self) -> str:
        return caption_name(self.kind, self.name)


_REGISTRIES: dict[str, dict[str, Entry]] = {"figure": {}, "table": {}}
_MODULES = {"figure": "pipeline.report.figures", "table": "pipeline.report.tables"}


def _register(kind: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(make: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRIES[kind]:
            raise ValueError(f"a {kind} named {name!r} is already registered")
        _REGISTRIES[kind][name] = Entry(name, make, kind)
        return make

    return decorate


def register_figure(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``make(pair: PairData, path: Path)`` draws ``{name}.png`` of one architecture/data-set pair."""
    return _register("figure", name)


def register_table(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``make(collection: Collection) -> DataFrame`` is ``tables/{name}.{csv,md}`` of the grid."""
    return _register("table", name)


def _loaded(kind: str) -> dict[str, Entry]:
    importlib.import_module(_MODULES[kind])
    return _REGISTRIES[kind]


def figures() -> dict[str, Entry]:
    return _loaded("figure")


def tables() -> dict[str, Entry]:
    return _loaded("table")
