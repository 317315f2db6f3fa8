"""Multiresolution hash encoding (Instant-NGP, Müller et al. 2022): native op and its pure-torch reference.

Convention (shared by the kernels and :func:`hash_encode_reference`, which is the specification):

* ``x`` [N, D] (D = 2 or 3) is clamped to [0, 1]^D; the clamped coordinates get zero gradient.
* Level ``l`` has ``resolutions[l]`` = res cells per axis: the point sits at p = x * res, grid vertices at the
  integer points 0..res, so the level has (res + 1)^D vertices. The cell is floor(p), capped at res - 1 so that
  x = 1 lies on the upper face of the last cell.
* Level ``l`` owns rows ``level_offsets[l]:level_offsets[l + 1]`` of ``embeddings`` (its table). When its
  (res + 1)^D vertices fit, they are indexed densely, v_0 + (res + 1) * (v_1 + (res + 1) * v_2); otherwise the
  vertex is hashed to (v_0 * 1 XOR v_1 * 2654435761 XOR v_2 * 805459861) mod size (uint32 arithmetic), and the
  table size must be a power of two.
* The 2^D corner features are blended with (bi/tri)linear weights. The output [N, L * F] is level-major: the F
  features of level 0 come first.

Gradients: with respect to ``embeddings`` (scatter-add) and, when ``x`` requires grad, with respect to ``x``
(first order only: differentiating those gradients again, e.g. an eikonal loss on normals obtained from the hash
encoding, raises an error).
"""
import torch

import fields._native  # noqa: F401  (registers torch.ops.fields)

HASH_PRIMES = (1, 2654435761, 805459861)


class _HashEncode(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, embeddings, level_offsets, resolutions, encoded=None):
        ctx.save_for_backward(x, embeddings, level_offsets, resolutions)
        if encoded is not None:  # computed earlier without autograd: only the backward pass is needed
            return encoded
        return torch.ops.fields.hash_encode_forward(x, embeddings, level_offsets, resolutions)

    @staticmethod
    def backward(ctx, grad_out):
        x, embeddings, level_offsets, resolutions = ctx.saved_tensors
        want_x = ctx.needs_input_grad[0]
        grad_embeddings, grad_x = _HashEncodeBackward.apply(
            x, embeddings, level_offsets, resolutions, grad_out.contiguous(), want_x
        )
        return (grad_x if want_x else None), grad_embeddings, None, None, None


class _HashEncodeBackward(torch.autograd.Function):
    """The backward pass as its own node, so that differentiating it fails loudly instead of silently."""

    @staticmethod
    def forward(ctx, x, embeddings, level_offsets, resolutions, grad_out, want_x):
        return torch.ops.fields.hash_encode_backward(x, embeddings, level_offsets, resolutions, grad_out, want_x)

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError(
            "hash_encode: double backward is not supported (its gradients are first order only); "
            "use hash_encode_reference, or finite differences, where second derivatives are needed"
        )


def hash_encode(
    x: torch.Tensor, embeddings: torch.Tensor, level_offsets: torch.Tensor, resolutions: torch.Tensor
) -> torch.Tensor:
    """Encodes points into multiresolution grid features (the exact convention is in the module docstring).

    Args:
        x: [N, D] float32 in [0, 1]^D, D = 2 or 3 (clamped; differentiable, first order).
        embeddings: [P, F] float32, F in {1, 2, 4, 8}: the L level tables one after the other (differentiable).
        level_offsets: [L + 1] int64 row offsets of the tables (0 first, P last); keep it on the CPU (it is read on
            the host, and a device tensor would cost a synchronisation).
        resolutions: [L] int64 cells per axis of each level; on the CPU too.

    Returns:
        [N, L * F] float32 features, level-major.
    """
    return _HashEncode.apply(x, embeddings, level_offsets, resolutions)


def hash_encode_reusing(
    x: torch.Tensor,
    embeddings: torch.Tensor,
    level_offsets: torch.Tensor,
    resolutions: torch.Tensor,
    encoded: torch.Tensor,
) -> torch.Tensor:
    """:func:`hash_encode` when its value is already known, which lets a renderer encode every sample once without
    autograd and train on the subset that matters without encoding it again.

    Args:
        x, embeddings, level_offsets, resolutions: as :func:`hash_encode`.
        encoded: [N, L * F] ``hash_encode(x, embeddings, ...)`` computed earlier without autograd (same points,
            same table).

    Returns:
        ``encoded`` with the op's backward attached: gradients reach ``embeddings`` (and ``x``) as if the encoding
        had been computed here.
    """
    if encoded.requires_grad or encoded.shape[0] != x.shape[0]:
        raise ValueError("hash_encode_reusing: encoded must be a no-grad encoding of x (got requires_grad="
                         f"{encoded.requires_grad}, {encoded.shape[0]} rows for {x.shape[0]} points)")
    return _HashEncode.apply(x, embeddings, level_offsets, resolutions, encoded)


def hash_encode_reference(
    x: torch.Tensor, embeddings: torch.Tensor, level_offsets: torch.Tensor, resolutions: torch.Tensor
) -> torch.Tensor:
    """Pure-torch twin of :func:`hash_encode`; the specification the kernels are tested against."""
    dims = x.shape[1]
    if dims not in (2, 3):
        raise ValueError(f"hash_encode: argument 'x' must have shape [N, 2] or [N, 3], got {list(x.shape)}")
    offsets = level_offsets.tolist()
    x = x.clamp(0, 1)
    outputs = []
    for level, res in enumerate(resolutions.tolist()):
        start, size = offsets[level], offsets[level + 1] - offsets[level]
        p = x * res
        lower = p.floor().clamp(max=res - 1)
        rows, weights = _corner_rows_and_weights(lower.long(), p - lower, res, size)
        corner_features = embeddings.index_select(0, (start + rows).flatten()).view(*rows.shape, -1)
        outputs.append((weights[..., None] * corner_features).sum(1))
    return torch.cat(outputs, dim=-1)


def _corner_rows_and_weights(lower: torch.Tensor, frac: torch.Tensor, res: int, size: int):
    """Table rows (relative to the level) and interpolation weights of the 2^D corners of each point's cell, both
    [N, 2^D], from the cell's lower vertex [N, D] (int64) and the fractional position in it [N, D].

    Each axis contributes a term for its lower and upper vertex (vertex * stride when the level is dense, vertex *
    prime when hashed) and a weight (1 - frac, frac); a corner picks one of each per axis and combines the terms
    with + (dense) or XOR (hashed), the weights with *.
    """
    dims = lower.shape[1]
    dense = (res + 1) ** dims <= size
    if not dense and size & (size - 1):
        raise ValueError(f"hash_encode: a hashed level needs a power-of-two table size, got {size}")
    rows = weights = None
    for d in range(dims):
        factor = (res + 1) ** d if dense else HASH_PRIMES[d]
        axis_rows = torch.stack([lower[:, d], lower[:, d] + 1], dim=-1) * factor  # [N, 2]
        axis_weights = torch.stack([1 - frac[:, d], frac[:, d]], dim=-1)  # [N, 2]
        if rows is None:
            rows, weights = axis_rows, axis_weights
            continue
        pairs = (rows[:, :, None], axis_rows[:, None, :])
        rows = (pairs[0] + pairs[1] if dense else pairs[0] ^ pairs[1]).flatten(1)
        weights = (weights[:, :, None] * axis_weights[:, None, :]).flatten(1)
    return (rows if dense else rows & (size - 1)), weights
