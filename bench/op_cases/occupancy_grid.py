import torch

from bench.op_cases import Case
from fields.ops import occupancy_ema_update_, occupancy_ema_update_reference, pack_bitfield, pack_bitfield_reference


def cases(device):
    cells = 128**3
    g = torch.Generator().manual_seed(0)
    occupancy = torch.rand(cells, generator=g).to(device)
    binary = occupancy > 0.5
    # one post-warm-up update: a quarter of the cells plus the occupied half
    indices = torch.cat([torch.randperm(cells, generator=g)[: cells // 4], binary.cpu().nonzero()[:, 0]]).to(device)
    values = torch.rand(indices.shape[0], generator=g).to(device)
    return [
        Case("occupancy_ema_update_ 128^3, 3/4 of cells evaluated",
             lambda: occupancy_ema_update_(occupancy, indices, values, 0.95),
             lambda: occupancy_ema_update_reference(occupancy, indices, values, 0.95), cells, "cells"),
        Case("pack_bitfield 128^3", lambda: pack_bitfield(binary), lambda: pack_bitfield_reference(binary), cells,
             "cells"),
    ]
