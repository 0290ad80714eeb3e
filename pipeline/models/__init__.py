"""Model definitions (docs/science.md §6), plain torch modules registered by name.

Importing this package is light: builders (torch) load when a model is first built, and the
probe (prunable layers, their graphs) when first used. The workflow imports it to validate
configurations before any job and should not pay for torch then.
"""

from pipeline.lazy import lazy_attributes
from pipeline.models.registry import (
    build_model,
    datasets_for,
    declared_families,
    list_models,
    register_model,
    valid_pairs,
)

_PROBE = ("PrunableWeight", "example_input", "graphs_of", "model_layers", "network_graphs", "prunable_weights")
__getattr__ = lazy_attributes(__name__, dict.fromkeys(_PROBE, "pipeline.models.probe"))


__all__ = [*_PROBE, "build_model", "declared_families", "datasets_for", "list_models", "register_model", "valid_pairs"]
