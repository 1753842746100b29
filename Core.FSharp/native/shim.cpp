#include "shim.h"
#include <torch/torch.h>
#include <string>

static thread_local std::string last_error;

// Runs body; turns any C++ exception into status -1 and a message for ts_last_error.
#define GUARD(body)                                       \
  try { body; return 0; }                                 \
  catch (const std::exception& e) { last_error = e.what(); return -1; } \
  catch (...) { last_error = "unknown C++ exception"; return -1; }

extern "C" {
const char* ts_last_error(void) { return last_error.c_str(); }
int ts_free(tensor t) { GUARD(delete static_cast<at::Tensor*>(t)) }
}
