#include "shim.h"
#include "guard.h"

static thread_local std::string last_error;
void ts_set_error(const std::string& message) { last_error = message; }

extern "C" {
const char* ts_last_error(void) { return last_error.c_str(); }
int ts_free(tensor t) { GUARD(delete static_cast<at::Tensor*>(t)) }
}
