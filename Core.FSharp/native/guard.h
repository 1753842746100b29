// Shared by every translation unit of the shim: no C++ exception crosses the C boundary.
#pragma once
#include <string>
#include <torch/torch.h>

// The message of the last failed call on this thread (read by ts_last_error).
void ts_set_error(const std::string& message);

// Runs body; turns any C++ exception into status -1 and a message for ts_last_error.
// libtorch's own errors keep their message without the C++ backtrace.
#define GUARD(body)                                                                    \
  try { body; return 0; }                                                              \
  catch (const c10::Error& e) { ts_set_error(e.what_without_backtrace()); return -1; } \
  catch (const std::exception& e) { ts_set_error(e.what()); return -1; }               \
  catch (...) { ts_set_error("unknown C++ exception"); return -1; }

// Tensor handles are owned at::Tensor* on the heap.
#define T(h) (*static_cast<at::Tensor*>(h))
