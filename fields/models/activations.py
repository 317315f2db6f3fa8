"""Activations shared by the fields."""
import torch


class _TruncExp(torch.autograd.Function):
    """exp(x) whose gradient is computed from exp(min(x, 15)): keeps density gradients finite early in training."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.exp(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.exp(x.clamp(max=15.0))


def trunc_exp(x: torch.Tensor) -> torch.Tensor:
    return _TruncExp.apply(x)
