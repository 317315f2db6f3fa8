"""Autograd wrappers of the native core, each beside its pure-torch reference (``*_reference``)."""
from fields.ops.rasterize import RasterOutput, rasterize, rasterize_reference
from fields.ops.sh_encoding import sh_encode, sh_encode_reference

__all__ = ["sh_encode", "sh_encode_reference", "rasterize", "rasterize_reference", "RasterOutput"]
