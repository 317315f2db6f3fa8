// The one pybind11 module of the native core. The ops themselves register with torch's dispatcher from their own
// files (TORCH_LIBRARY_FRAGMENT(fields, ...) in cuda/cpu/*.cpp): each op file is self-contained, the ops are
// visible to torch.compile, and CPU/CUDA dispatch follows the tensors' device. Importing this module loads them.
#include <torch/library.h>
#include <pybind11/pybind11.h>

// Declares the `fields` operator namespace; op files add to it with TORCH_LIBRARY_FRAGMENT.
TORCH_LIBRARY(fields, m) {}

PYBIND11_MODULE(_core, m) {
    m.doc() = "fields native core: ops are registered under torch.ops.fields";
    m.def("built_with_cuda", []() {
#ifdef WITH_CUDA
        return true;
#else
        return false;
#endif
    }, "True when the CUDA kernels were compiled into this build.");
}
