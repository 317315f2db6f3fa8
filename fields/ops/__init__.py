"""Autograd wrappers of the native core, each beside its pure-torch reference (``*_reference``)."""
from fields.ops.sh_encoding import sh_encode, sh_encode_reference

__all__ = ["sh_encode", "sh_encode_reference"]

from fields.ops.grid_sample import (  # noqa: E402
    grid_sample_2d,
    grid_sample_2d_reference,
    grid_sample_3d,
    grid_sample_3d_reference,
    triplane_sample,
    triplane_sample_reference,
)

__all__ += [
    "grid_sample_2d",
    "grid_sample_2d_reference",
    "grid_sample_3d",
    "grid_sample_3d_reference",
    "triplane_sample",
    "triplane_sample_reference",
]
