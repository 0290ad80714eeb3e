"""Reading model files for the command line: a state_dict, a checkpoint dict, a whole module.

A file that does not fit the model is one line naming what is missing, unexpected or of
another shape, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

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


def load_into(model: nn.Module, path: Path, label: str) -> None:
    """Load a state_dict file into ``model``, or say in one line why it does not fit."""
    state = load_state_dict(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model"
        for k in own
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = [
        f"{len(missing)} missing ({_listed(missing)})" if missing else "",
        f"{len(unexpected)} unexpected ({_listed(unexpected)})" if unexpected else "",
        f"{len(shapes)} of another shape ({_listed(shapes)})" if shapes else "",
    ]
    problems = [p for p in problems if p]
    if problems:
        raise ValueError(f"{path} does not fit {label}: " + "; ".join(problems))
    model.load_state_dict(state)
