"""Field types, built from the JSON-able ``config`` dict each one exposes (the checkpoint stores it)."""
from torch import nn

from fields.models.hash_grid import HashGridField

FIELD_TYPES: dict[str, type[nn.Module]] = {HashGridField.field_type: HashGridField}


def build_field(config: dict) -> nn.Module:
    """Rebuilds a field from its ``config`` (``{"type": ..., **hyperparameters}``)."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in FIELD_TYPES:
        raise ValueError(f"unknown field type {kind!r}; known types: {', '.join(sorted(FIELD_TYPES))}")
    return FIELD_TYPES[kind](**config)


__all__ = ["FIELD_TYPES", "HashGridField", "build_field"]
