"""Builds the native core `fields._core` from cuda/.

The C++ (CPU) sources are always built. The CUDA sources and the WITH_CUDA define are added only when torch
was built with CUDA and a CUDA toolkit is found (or FORCE_CUDA=1): CUDAExtension refuses a CPU-only torch.

Install with the torch you already have:  pip install --no-build-isolation -e .
"""
import glob
import os

from setuptools import find_namespace_packages, setup

try:
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension
except ImportError as error:  # pragma: no cover - only on a machine without torch
    raise SystemExit(
        "fields needs torch before it can build its native core. On a CPU machine run\n"
        "    pip install torch==2.13.0\n"
        "then  pip install --no-build-isolation -e .   (or simply: bash scripts/setup.sh)"
    ) from error

ROOT = os.path.dirname(os.path.abspath(__file__))


def with_cuda() -> bool:
    if os.environ.get("FORCE_CUDA", "0") == "1":
        return True
    return torch.version.cuda is not None and CUDA_HOME is not None


def core_extension():
    cpu_sources = sorted(glob.glob("cuda/cpu/*.cpp")) + ["cuda/bindings.cpp"]
    include_dirs = [os.path.join(ROOT, "cuda", "include")]
    cxx_flags = ["-O3", "-std=c++20", "-Wno-unused-parameter"]
    if not with_cuda():
        return CppExtension(
            "fields._core", cpu_sources, include_dirs=include_dirs, extra_compile_args={"cxx": cxx_flags}
        )
    nvcc_flags = ["-O3", "-std=c++17", "--use_fast_math", "--expt-relaxed-constexpr"]
    return CUDAExtension(
        "fields._core",
        cpu_sources + sorted(glob.glob("cuda/cuda/*.cu")),
        include_dirs=include_dirs,
        define_macros=[("WITH_CUDA", None)],
        extra_compile_args={"cxx": cxx_flags, "nvcc": nvcc_flags},
    )


setup(
    name="fields-toolkit",  # "fields" on PyPI is another project; the import package is still `fields`
    version="0.1.0",
    description="Neural fields toolkit: native ray marching, volume rendering and encodings; trainers, viewer, export",
    license="Apache-2.0",
    # the apps are installed inside the package (fields/apps) so that the `fields` command finds them
    # namespace packages too: a sub-package without __init__.py must not be left out of a regular install
    packages=find_namespace_packages(include=["fields", "fields.*"], exclude=["*.__pycache__"]) + ["fields.apps"],
    package_dir={"fields.apps": "apps"},
    entry_points={"console_scripts": ["fields = fields.cli:main"]},
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.1",  # already installed before the build (setup imports it); pinned CPU build in scripts/setup.sh
        "numpy",
        "safetensors",
        "tyro",
        "tqdm",
        "pillow",
        "imageio",
        "imageio-ffmpeg",  # videos (apps/render.py)
        "scipy",
        "scikit-image",  # marching cubes, sample photographs
        "trimesh",  # mesh I/O (PLY/OBJ/GLB)
        "libigl",  # exact signed distance with winding-number signs (SDF training data)
        "viser",  # the browser viewer
        "pycolmap",  # structure from motion for apps/process_data.py (COLMAP without a binary)
        "av",  # video decoding for apps/process_data.py --video
    ],
    extras_require={
        "ray": ["ray"],  # tri-plane fitting and benchmark grids on a Ray cluster
        "open3d": ["open3d"],  # TSDF fusion and Poisson reconstruction (needs apt libusb-1.0-0)
        "dev": ["pytest", "pytest-timeout", "ray"],
    },
    ext_modules=[core_extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    zip_safe=False,
)
