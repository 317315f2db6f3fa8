"""Loads the compiled native core. Importing it registers the ops under ``torch.ops.fields``."""
import torch  # noqa: F401  (libtorch must be loaded before the extension)

try:
    from fields import _core as core
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError(
        "The native core fields._core is not built. From the project root run\n"
        "    bash scripts/setup.sh\n"
        "or, with torch already installed:  pip install --no-build-isolation -e .\n"
        f"(original error: {error})"
    ) from error


def built_with_cuda() -> bool:
    """True when the CUDA kernels were compiled into the native core."""
    return bool(core.built_with_cuda())
