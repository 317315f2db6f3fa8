"""PVD: progressive volume distillation of a trained radiance field into a field of any registered type, with
PVD-AL's active learning (docs/methods.md, "PVD").

``Distiller(ConvertConfig(checkpoint=..., to="mlp")).run()`` is what ``apps/convert.py`` does."""
from fields.distill.config import ConvertConfig
from fields.distill.converter import ConvertResult, Distiller
from fields.distill.teacher import ConvertError

__all__ = ["ConvertConfig", "ConvertError", "ConvertResult", "Distiller"]
