// Argument checks for the torch-facing glue (cuda/cpu/*.cpp). Every failure raises a Python ValueError or TypeError
// that names the op, the argument and what was expected, so bad input never reaches a kernel. The glue's CUDA
// branches (built with WITH_CUDA) also get the current stream from here.
#pragma once

#include <ATen/ATen.h>

#ifdef WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include <cstdio>
#include <initializer_list>
#include <string>
#include <type_traits>

namespace fields {

// Error messages are assembled here with numbers formatted by std::to_string / snprintf, never streamed. On the
// lent H100 (torch 2.11+cu130 wheels, extension built there) every check whose message streamed a number through
// TORCH_CHECK's c10::str segfaulted, while messages made of strings and dtypes raised cleanly.
inline void append_message(std::string& out, const char* text) { out += text; }
inline void append_message(std::string& out, const std::string& text) { out += text; }
inline void append_message(std::string& out, at::ScalarType dtype) { out += c10::toString(dtype); }
inline void append_message(std::string& out, const c10::Device& device) { out += device.str(); }
inline void append_message(std::string& out, double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%g", value);
    out += buffer;
}
template <typename Integer, typename = std::enable_if_t<std::is_integral_v<Integer>>>
void append_message(std::string& out, Integer value) {
    out += std::to_string(value);
}

template <typename... Parts>
std::string check_message(const Parts&... parts) {
    std::string out;
    (append_message(out, parts), ...);
    return out;
}

// TORCH_CHECK_VALUE / TORCH_CHECK_TYPE (Python ValueError / TypeError) with the message built by check_message;
// as with TORCH_CHECK, the message is only built when the check fails.
#define FIELDS_CHECK_VALUE(cond, ...) TORCH_CHECK_VALUE(cond, ::fields::check_message(__VA_ARGS__))
#define FIELDS_CHECK_TYPE(cond, ...) TORCH_CHECK_TYPE(cond, ::fields::check_message(__VA_ARGS__))

// "[2, *, 3]": -1 (any size) is shown as *.
template <typename Sizes>
std::string shape_string(const Sizes& shape) {
    std::string out = "[";
    for (int64_t s : shape) {
        out += (out.size() > 1 ? ", " : "") + (s < 0 ? std::string("*") : std::to_string(s));
    }
    return out + "]";
}

inline std::string shape_string(std::initializer_list<int64_t> shape) {
    return shape_string<std::initializer_list<int64_t>>(shape);
}

// shape: expected sizes, -1 for "any size". dtype: expected scalar type.
inline void check_tensor(const at::Tensor& t, const char* op, const char* name, at::ScalarType dtype,
                         std::initializer_list<int64_t> shape) {
    FIELDS_CHECK_TYPE(t.defined(), op, ": argument '", name, "' is undefined");
    FIELDS_CHECK_TYPE(t.scalar_type() == dtype, op, ": argument '", name, "' must have dtype ", dtype, ", got ",
                      t.scalar_type());
    bool ok = t.dim() == static_cast<int64_t>(shape.size());
    int64_t i = 0;
    for (int64_t s : shape) {
        if (ok && s >= 0 && t.size(i) != s) ok = false;
        ++i;
    }
    FIELDS_CHECK_VALUE(ok, op, ": argument '", name, "' must have shape ", shape_string(shape), ", got ",
                       shape_string(t.sizes()));
    FIELDS_CHECK_VALUE(t.is_contiguous(), op, ": argument '", name,
                       "' must be contiguous (call .contiguous() on it first)");
}

inline void check_same_device(const at::Tensor& reference, const at::Tensor& t, const char* op,
                              const char* reference_name, const char* name) {
    FIELDS_CHECK_VALUE(t.device() == reference.device(), op, ": argument '", name, "' is on ", t.device(),
                       " but '", reference_name, "' is on ", reference.device(), "; put both on the same device");
}

}  // namespace fields
