"""Autograd wrappers of the native core, each beside its pure-torch reference (``*_reference``)."""
from fields.ops.grid_sample import (
    grid_sample_2d,
    grid_sample_2d_reference,
    grid_sample_3d,
    grid_sample_3d_reference,
    triplane_sample,
    triplane_sample_reference,
)
from fields.ops.hash_encoding import hash_encode, hash_encode_reference
from fields.ops.sh_encoding import sh_encode, sh_encode_reference
from fields.ops.volume_rendering import VolumeRenderOutput, volume_render, volume_render_reference

__all__ = [
    "grid_sample_2d",
    "grid_sample_2d_reference",
    "grid_sample_3d",
    "grid_sample_3d_reference",
    "hash_encode",
    "hash_encode_reference",
    "sh_encode",
    "sh_encode_reference",
    "triplane_sample",
    "triplane_sample_reference",
    "VolumeRenderOutput",
    "volume_render",
    "volume_render_reference",
]
