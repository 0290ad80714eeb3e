"""Reading model files for the command line: a state_dict, a checkpoint dict, a whole module,
a safetensors file, a sharded safetensors directory (with its ``*.safetensors.index.json``).

Stored tensors are read one at a time (``Stored``): safetensors by name from their files, a
torch file memory-mapped, so a model larger than memory is analysed with one weight in memory.
A file that does not fit the model is one line naming what is missing, unexpected or of another
shape, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline.errors import first_line

_SHOWN = 3


def _exists(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {path}")


def _read(path: Path, *, whole: bool) -> object:
    _exists(path)
    try:
        if not whole:  # mapped, not read: a large file costs only the tensors looked at
            with contextlib.suppress(RuntimeError):  # a legacy (non-zip) file cannot be mapped
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return torch.load(path, map_location="cpu", weights_only=not whole)
    except Exception as err:  # a file torch cannot read: say which, not how torch failed inside
        hint = "; a whole saved module? then name no model" if not whole and "weights_only" in str(err).lower() else ""
        raise ValueError(f"{path}: not a torch model file torch can read ({first_line(err)}){hint}") from None


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state_dict, or the ``model``/``state_dict`` entry of a checkpoint dict."""
    state = _read(path, whole=False)
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state_dict, found a {type(state).__name__}")
    return state


def load_module(path: Path) -> nn.Module:
    """A whole module saved with ``torch.save(model)`` (unpickled: only for files you trust)."""
    module = _read(path, whole=True)
    if not isinstance(module, nn.Module):
        raise ValueError(
            f"{path} holds a {type(module).__name__}, not a whole module: name its model with --torchvision or --model"
        )
    return module


def _listed(names: list[str]) -> str:
    more = f", … ({len(names) - _SHOWN} more)" if len(names) > _SHOWN else ""
    return ", ".join(names[:_SHOWN]) + more


def _fit_problems(own: Mapping[str, tuple[int, ...]], theirs: Mapping[str, tuple[int, ...]]) -> list[str]:
    missing = [k for k in own if k not in theirs]
    unexpected = [k for k in theirs if k not in own]
    shapes = [
        f"{k}: {theirs[k]} in the file, {own[k]} in the model" for k in own if k in theirs and theirs[k] != own[k]
    ]
    problems = [
        f"{len(missing)} missing ({_listed(missing)})" if missing else "",
        f"{len(unexpected)} unexpected ({_listed(unexpected)})" if unexpected else "",
        f"{len(shapes)} of another shape ({_listed(shapes)})" if shapes else "",
    ]
    return [p for p in problems if p]


def load_into(model: nn.Module, path: Path, label: str) -> None:
    """Load a model file (state_dict or safetensors) into ``model``, or say in one line why it
    does not fit."""
    stored = open_stored(path)
    stored.check(model, label)
    own = model.state_dict()
    state = {own_name: stored.read(stored.alias[own_name]) for own_name in own if own_name in stored.alias}
    model.load_state_dict(state, strict=False)


def _safe_open(file: Path) -> Any:
    """A safetensors file opened for reading by name, or one line saying what is missing."""
    try:
        from safetensors import safe_open  # here: an optional extra, needed only for these files
    except ImportError:
        raise ValueError("reading .safetensors needs the safetensors package: pip install safetensors") from None
    try:
        return safe_open(file, framework="pt")
    except Exception as err:  # a file safetensors cannot read: say which
        raise ValueError(f"{file}: not a safetensors file ({first_line(err)})") from None


@dataclass
class Stored:
    """The tensors of a model file, read one at a time by name: ``shapes`` as stored,
    ``files`` (safetensors: the file holding each name) or ``state`` (a torch file, mapped).
    ``alias`` maps the model's names to stored ones (a tied weight is stored once)."""

    path: Path
    shapes: dict[str, tuple[int, ...]]
    files: dict[str, Path] | None = None
    state: Mapping[str, torch.Tensor] | None = None
    alias: dict[str, str] | None = None

    def read(self, name: str) -> torch.Tensor:
        if name not in self.shapes:  # a non-persistent buffer a kernel is computed with, say
            raise ValueError(f"{self.path} holds no tensor {name!r}: it lives only in a model not on the meta device")
        if self.state is not None:
            return self.state[name]
        with _safe_open(self.files[name]) as f:  # type: ignore[index]
            return f.get_tensor(name)

    def check(self, model: nn.Module, label: str) -> None:
        """Refuse, in one line, a file that does not hold the model's tensors at their shapes;
        a tensor the model ties to another (GPT-2's lm_head) may be stored once."""
        state = model.state_dict(keep_vars=True)
        own = {k: tuple(v.shape) for k, v in state.items()}
        first: dict[int, str] = {}
        self.alias = {}
        for name, t in state.items():
            known = first.setdefault(id(t), name)
            self.alias[name] = name if name in self.shapes else self.alias.get(known, name)
        theirs = dict(self.shapes)
        for name, stored in self.alias.items():
            if stored != name and stored in self.shapes:
                theirs[name] = self.shapes[stored]
        problems = _fit_problems(own, theirs)
        if problems:
            raise ValueError(f"{self.path} does not fit {label}: " + "; ".join(problems))

    def values(self) -> Callable[[str], np.ndarray]:
        """A stored tensor by the model's name, as float32 numpy (bfloat16 included)."""
        alias = self.alias or {}
        return lambda name: self.read(alias.get(name, name)).to(torch.float32).numpy()


def _shards(path: Path) -> tuple[list[Path], dict[str, str] | None]:
    """The safetensors files of a model, and the directory index's ``weight_map`` if it has one."""
    if path.is_file():
        return [path], None
    index = sorted(path.glob("*.safetensors.index.json"))
    if index:
        try:
            weight_map = json.loads(index[0].read_text())["weight_map"]
            if not all(isinstance(f, str) for f in weight_map.values()):
                raise TypeError("its weight_map must name a file for every tensor")
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{index[0]}: not a safetensors index with a weight_map ({err})") from None
        return sorted({path / file for file in weight_map.values()}), weight_map
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{path}: no *.safetensors file or *.safetensors.index.json in this directory")
    return files, None


def open_stored(path: Path) -> Stored:
    """A model file's tensors, to read one at a time: safetensors (a file, or a sharded
    directory), or a torch state_dict / checkpoint dict (memory-mapped where the format allows)."""
    if path.is_dir() or path.suffix == ".safetensors":
        if not path.exists():
            raise FileNotFoundError(f"no such model file: {path}")
        shards, weight_map = _shards(path)
        files, shapes = {}, {}
        for file in shards:  # one pass over the files' headers: which file holds what, at which shape
            _exists(file)
            with _safe_open(file) as f:
                for k in f.keys():  # noqa: SIM118 (safetensors' handle has no __iter__)
                    if weight_map is None or path / weight_map.get(k, "") == file:
                        files[k], shapes[k] = file, tuple(f.get_slice(k).get_shape())
        missing = [name for name in weight_map or {} if name not in shapes]
        if missing:
            raise ValueError(f"{path}: the index names tensors its files do not hold ({_listed(missing)})")
        return Stored(path, shapes, files=files)
    state = load_state_dict(path)
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    return Stored(path, {k: tuple(v.shape) for k, v in tensors.items()}, state=tensors)
