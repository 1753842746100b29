// What oneDNN runs on this CPU: the instruction set it dispatches to, and a trace of the primitives
// it executes (its own verbose lines, one per execution, naming the implementation: "jit:avx512_core",
// or "ref:any" for a reference kernel that is tens of times slower). oneDNN prints the lines on
// stdout; while a trace runs, stdout goes to a temporary file, and whatever else was written there
// meanwhile (oneDNN's lines too where ONEDNN_VERBOSE asked for them) is passed on to the real
// stdout when the trace ends.
#include <oneapi/dnnl/dnnl.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "guard.h"
#include "shim.h"

namespace {

std::mutex trace_mutex;
FILE* trace_file = nullptr;
int saved_stdout = -1;
std::string trace_text;

// The verbose level the process started with (ONEDNN_VERBOSE, or DNNL_VERBOSE as oneDNN 2.x reads it).
int initial_verbose_level() {
  for (const char* name : {"ONEDNN_VERBOSE", "DNNL_VERBOSE"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return 0;
}

const char* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
  }
}

void trace_begin() {
  std::lock_guard<std::mutex> lock(trace_mutex);
  if (trace_file) throw std::runtime_error("a oneDNN trace is already running");
  std::fflush(stdout);
  FILE* file = std::tmpfile();
  if (!file) throw std::runtime_error("cannot create a temporary file for the oneDNN trace");
  saved_stdout = dup(STDOUT_FILENO);
  if (saved_stdout < 0 || dup2(fileno(file), STDOUT_FILENO) < 0) {
    std::fclose(file);
    throw std::runtime_error("cannot redirect stdout for the oneDNN trace");
  }
  trace_file = file;
  dnnl::set_verbose(1);
}

// oneDNN's lines since trace_begin; the rest goes on to stdout.
const char* trace_end() {
  std::lock_guard<std::mutex> lock(trace_mutex);
  if (!trace_file) throw std::runtime_error("no oneDNN trace is running");
  dnnl::set_verbose(initial_verbose_level());
  std::fflush(stdout);
  dup2(saved_stdout, STDOUT_FILENO);
  close(saved_stdout);
  // A user who set ONEDNN_VERBOSE asked for oneDNN's lines: they pass on too, in their order.
  const bool pass_verbose = initial_verbose_level() > 0;
  std::string verbose, passed;
  std::rewind(trace_file);
  char* line = nullptr;
  size_t capacity = 0;
  for (ssize_t n; (n = getline(&line, &capacity, trace_file)) > 0;) {
    const bool is_verbose = std::strncmp(line, "onednn_verbose", 14) == 0;
    if (is_verbose) verbose.append(line, n);
    if (!is_verbose || pass_verbose) passed.append(line, n);
  }
  std::free(line);
  std::fclose(trace_file);
  trace_file = nullptr;
  if (!passed.empty()) {
    std::fwrite(passed.data(), 1, passed.size(), stdout);
    std::fflush(stdout);
  }
  trace_text = std::move(verbose);
  return trace_text.c_str();
}

}  // namespace

int ts_onednn_isa(const char** out) { GUARD(*out = isa_name(dnnl::get_effective_cpu_isa())) }
int ts_onednn_trace_begin(void) { GUARD(trace_begin()) }
int ts_onednn_trace_end(const char** out) { GUARD(*out = trace_end()) }
