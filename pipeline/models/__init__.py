"""Model definitions (SPEC §6), plain torch modules registered by name."""

from pipeline.models import mnist, resnet, vgg  # noqa: F401  (registers the builders)
from pipeline.models.probe import PrunableWeight, example_input, graphs_of, model_layers, prunable_weights
from pipeline.models.registry import build_model, datasets_for, list_models, register_model, valid_pairs

__all__ = [
    "PrunableWeight",
    "build_model",
    "datasets_for",
    "example_input",
    "graphs_of",
    "list_models",
    "model_layers",
    "prunable_weights",
    "register_model",
    "valid_pairs",
]
