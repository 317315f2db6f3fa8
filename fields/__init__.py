"""fields: a neural-fields toolkit with a native C++/CUDA core."""
from fields._native import built_with_cuda

__all__ = ["built_with_cuda"]
__version__ = "0.1.0"
