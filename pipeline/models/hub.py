"""Models of the libraries people prune, built from configurations with random weights: Hugging
Face ``transformers`` and ``timm`` (optional extras, ``pip install 'imp-topology-pipeline[models]'``).
Nothing is downloaded.

``transformers:TYPE`` builds a model type's configuration (``gpt2``, ``llama``, ``bert``, ...)
with the given keys and its causal-LM model (else its masked-LM, else its base model);
``transformers:CLASS`` (``GPT2LMHeadModel``) builds that class from its own configuration class.
A model's example input is what it declares: timm's ``pretrained_cfg`` input size, a language
model's token ids.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch import nn

TRANSFORMERS = "transformers:"
TOKENS = 32
"""Token ids in a language model's example input (every linear weight's graph is the same at any length)."""

_AUTO = ("AutoModelForCausalLM", "AutoModelForMaskedLM", "AutoModel")


def _library(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ValueError(f"{name} is not installed: pip install {name} (or the [models] extra)") from None


def build_transformers(spec: str, **config: Any) -> nn.Module:
    """A Hugging Face model from a configuration: ``spec`` is a model type or a model class."""
    transformers = _library("transformers")
    cls = getattr(transformers, spec, None)
    if isinstance(cls, type) and hasattr(cls, "config_class"):
        return cls(cls.config_class(**config))
    try:
        settings = transformers.AutoConfig.for_model(spec, **config)
    except ValueError:
        raise ValueError(f"transformers has no model type or model class {spec!r}") from None
    for auto in _AUTO:
        factory = getattr(transformers, auto)
        if type(settings) in factory._model_mapping:
            return factory.from_config(settings)
    raise ValueError(f"transformers builds no model for {spec!r}")


def is_language_model(model: nn.Module) -> bool:
    """A model that reads token ids (a transformers model with a vocabulary)."""
    return hasattr(getattr(model, "config", None), "vocab_size") and hasattr(model, "get_input_embeddings")


def declared_input(model: nn.Module) -> torch.Tensor | None:
    """The example input a model declares, or None: timm's ``pretrained_cfg['input_size']``
    (one image), a language model's token ids."""
    cfg = getattr(model, "pretrained_cfg", None) or getattr(model, "default_cfg", None)
    if isinstance(cfg, dict) and cfg.get("input_size"):
        return torch.zeros(1, *cfg["input_size"])
    if is_language_model(model):
        limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", TOKENS)
        return torch.zeros(1, min(TOKENS, int(limit)), dtype=torch.long)
    return None
