"""Field types (backbones) and the signals they represent, built from the JSON-able ``config`` each field exposes.

A field's config is ``{"type": backbone, "signal": radiance|sdf|image, **signal options, "backbone": {...}}``;
:func:`build_field` rebuilds it (checkpoints store it), :func:`make_field` builds one from flat command-line options.
"""
import inspect

from fields.models import backbones  # noqa: F401  (registers the backbones)
from fields.models.backbone import BACKBONES, Backbone, register_backbone
from fields.models.field import NeuralField
from fields.models.image import ImageField
from fields.models.radiance import RadianceField
from fields.models.sdf import SdfField

SIGNALS: dict[str, type[NeuralField]] = {"radiance": RadianceField, "sdf": SdfField, "image": ImageField}


def field_types() -> list[str]:
    return sorted(BACKBONES)


def build_field(config: dict) -> NeuralField:
    """Rebuilds a field from its ``config``. A config without "signal" is a radiance field."""
    config = dict(config)
    signal = config.pop("signal", "radiance")
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}; known: {', '.join(SIGNALS)}")
    if config.get("type") not in BACKBONES:
        raise ValueError(f"unknown field type {config.get('type')!r}; known types: {', '.join(field_types())}")
    return SIGNALS[signal](**config)


def make_field(signal: str, field_type: str, **options) -> NeuralField:
    """Builds a field from flat options: those the signal wrapper takes go to it, the rest to the backbone."""
    wrapper = SIGNALS[signal]
    wrapper_names = set(inspect.signature(wrapper.__init__).parameters) - {"self", "type", "backbone"}
    signal_options = {k: v for k, v in options.items() if k in wrapper_names}
    backbone_options = {k: v for k, v in options.items() if k not in wrapper_names}
    return build_field({"type": field_type, "signal": signal, **signal_options, "backbone": backbone_options})


__all__ = ["BACKBONES", "Backbone", "ImageField", "NeuralField", "RadianceField", "SdfField", "SIGNALS",
           "build_field", "field_types", "make_field", "register_backbone"]
