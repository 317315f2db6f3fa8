// Argument checks for the torch-facing glue (cuda/cpu/*.cpp). Every failure raises a Python ValueError or TypeError
// that names the op, the argument and what was expected, so bad input never reaches a kernel.
#pragma once

#include <ATen/ATen.h>

#include <initializer_list>
#include <sstream>
#include <string>

namespace fields {

// Formats sizes by hand: streaming an IntArrayRef into an error message crashed with torch 2.11's CUDA build.
template <typename Sizes>
std::string shape_string(const Sizes& shape) {
    std::ostringstream out;
    out << "[";
    bool first = true;
    for (int64_t s : shape) {
        out << (first ? "" : ", ") << (s < 0 ? std::string("*") : std::to_string(s));
        first = false;
    }
    out << "]";
    return out.str();
}

inline std::string shape_string(std::initializer_list<int64_t> shape) {
    return shape_string<std::initializer_list<int64_t>>(shape);
}

// shape: expected sizes, -1 for "any size". dtype: expected scalar type.
inline void check_tensor(const at::Tensor& t, const char* op, const char* name, at::ScalarType dtype,
                         std::initializer_list<int64_t> shape) {
    TORCH_CHECK_TYPE(t.defined(), op, ": argument '", name, "' is undefined");
    TORCH_CHECK_TYPE(t.scalar_type() == dtype, op, ": argument '", name, "' must have dtype ", dtype, ", got ",
                     t.scalar_type());
    bool ok = t.dim() == static_cast<int64_t>(shape.size());
    int64_t i = 0;
    for (int64_t s : shape) {
        if (ok && s >= 0 && t.size(i) != s) ok = false;
        ++i;
    }
    TORCH_CHECK_VALUE(ok, op, ": argument '", name, "' must have shape ", shape_string(shape), ", got ", shape_string(t.sizes()));
    TORCH_CHECK_VALUE(t.is_contiguous(), op, ": argument '", name,
                      "' must be contiguous (call .contiguous() on it first)");
}

inline void check_same_device(const at::Tensor& reference, const at::Tensor& t, const char* op,
                              const char* reference_name, const char* name) {
    TORCH_CHECK_VALUE(t.device() == reference.device(), op, ": argument '", name, "' is on ", t.device(),
                      " but '", reference_name, "' is on ", reference.device(), "; put both on the same device");
}

}  // namespace fields
