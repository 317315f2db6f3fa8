"""Autograd wrappers of the native core, each beside its pure-torch reference (``*_reference``)."""
from fields.ops.occupancy_grid import (
    occupancy_ema_update_,
    occupancy_ema_update_reference,
    pack_bitfield,
    pack_bitfield_reference,
)
from fields.ops.ray_aabb import ray_aabb_intersect, ray_aabb_intersect_reference
from fields.ops.ray_marching import RaySamples, ray_marching, ray_marching_reference
from fields.ops.sh_encoding import sh_encode, sh_encode_reference

__all__ = [
    "RaySamples",
    "occupancy_ema_update_",
    "occupancy_ema_update_reference",
    "pack_bitfield",
    "pack_bitfield_reference",
    "ray_aabb_intersect",
    "ray_aabb_intersect_reference",
    "ray_marching",
    "ray_marching_reference",
    "sh_encode",
    "sh_encode_reference",
]
