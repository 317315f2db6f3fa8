"""Autograd wrappers of the native core, each beside its pure-torch reference (``*_reference``)."""
from fields.ops.dense_grid_render import dense_grid_render, dense_grid_render_reference, skip_distances
from fields.ops.fused_mlp import fused_mlp, fused_mlp_reference
from fields.ops.grid_sample import (
    grid_sample_2d,
    grid_sample_2d_reference,
    grid_sample_3d,
    grid_sample_3d_reference,
    triplane_sample,
    triplane_sample_reference,
)
from fields.ops.hash_encoding import hash_encode, hash_encode_reference, hash_encode_reusing
from fields.ops.occupancy_grid import (
    occupancy_ema_update_,
    occupancy_ema_update_reference,
    pack_bitfield,
    pack_bitfield_reference,
)
from fields.ops.rasterize import RasterOutput, rasterize, rasterize_reference
from fields.ops.ray_aabb import ray_aabb_intersect, ray_aabb_intersect_reference
from fields.ops.ray_marching import RaySamples, ray_marching, ray_marching_reference, select_samples
from fields.ops.rbf_layer import rbf_layer, rbf_layer_reference
from fields.ops.sh_encoding import sh_encode, sh_encode_reference
from fields.ops.volume_rendering import (
    VolumeRenderOutput,
    contributing_samples,
    volume_render,
    volume_render_reference,
)

__all__ = [
    "RasterOutput",
    "RaySamples",
    "VolumeRenderOutput",
    "contributing_samples",
    "dense_grid_render",
    "dense_grid_render_reference",
    "fused_mlp",
    "fused_mlp_reference",
    "grid_sample_2d",
    "grid_sample_2d_reference",
    "grid_sample_3d",
    "grid_sample_3d_reference",
    "hash_encode",
    "hash_encode_reference",
    "hash_encode_reusing",
    "occupancy_ema_update_",
    "occupancy_ema_update_reference",
    "pack_bitfield",
    "pack_bitfield_reference",
    "rasterize",
    "rasterize_reference",
    "ray_aabb_intersect",
    "ray_aabb_intersect_reference",
    "ray_marching",
    "ray_marching_reference",
    "rbf_layer",
    "rbf_layer_reference",
    "select_samples",
    "sh_encode",
    "sh_encode_reference",
    "skip_distances",
    "triplane_sample",
    "triplane_sample_reference",
    "volume_render",
    "volume_render_reference",
]
