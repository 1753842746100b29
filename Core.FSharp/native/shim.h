// Flat C ABI over libtorch. Every function returns a status (0 = ok, -1 = error) and
// never lets a C++ exception cross the boundary; the message is read with ts_last_error().
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_API __attribute__((visibility("default")))

typedef void* tensor;  // an owned at::Tensor*; freed by ts_free

TS_API const char* ts_last_error(void);
TS_API int ts_free(tensor t);

#ifdef __cplusplus
}
#endif
