// A timeline of every CUDA kernel, copy, memset and runtime call of a process, through CUPTI's
// activity API, loaded by the CUDA driver as an injection library (no change to the program):
//   CUDA_INJECTION64_PATH=/path/libcupti_trace.so RCC_TRACE_OUT=trace.tsv rcc train ...
// Writes one tab-separated line per record at exit: kind, start_ns, end_ns, stream, name
// (kernels demangled; copies as "memcpy <kind> <bytes>"; runtime calls by their API name).
// bench/trace/timeline.py turns it into busy time, gaps and what the host was doing in them.
// Build: g++ -O2 -shared -fPIC cupti_trace.cpp -I$CUDA/include -L<libcupti dir> -lcupti
#include <cupti.h>
#include <cxxabi.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace {

struct Record {
  char kind;  // K kernel, C copy, S memset, R runtime call
  uint64_t start, end;
  uint32_t stream;
  std::string name;
};
std::mutex g_mu;
std::vector<Record> g_records;

std::string demangle(const char* s) {
  int status = 0;
  char* d = abi::__cxa_demangle(s, nullptr, nullptr, &status);
  std::string out = (status == 0 && d) ? d : s;
  std::free(d);
  return out;
}

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *size = size_t(16) << 20;
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, *size));
  *max_records = 0;
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  CUpti_Activity* r = nullptr;
  std::vector<Record> local;
  while (cuptiActivityGetNextRecord(buffer, valid, &r) == CUPTI_SUCCESS) {
    switch (r->kind) {
      case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
      case CUPTI_ACTIVITY_KIND_KERNEL: {
        auto* k = reinterpret_cast<CUpti_ActivityKernel10*>(r);
        local.push_back({'K', k->start, k->end, k->streamId, demangle(k->name)});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMCPY: {
        auto* c = reinterpret_cast<CUpti_ActivityMemcpy6*>(r);
        local.push_back({'C', c->start, c->end, c->streamId,
                         "memcpy " + std::to_string(int(c->copyKind)) + " " +
                             std::to_string((unsigned long long)c->bytes)});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMSET: {
        auto* m = reinterpret_cast<CUpti_ActivityMemset4*>(r);
        local.push_back({'S', m->start, m->end, m->streamId,
                         "memset " + std::to_string((unsigned long long)m->bytes)});
        break;
      }
      case CUPTI_ACTIVITY_KIND_RUNTIME: {
        auto* a = reinterpret_cast<CUpti_ActivityAPI*>(r);
        const char* name = nullptr;
        cuptiGetCallbackName(CUPTI_CB_DOMAIN_RUNTIME_API, a->cbid, &name);
        local.push_back({'R', a->start, a->end, 0, name ? name : "?"});
        break;
      }
      default:
        break;
    }
  }
  std::free(buffer);
  std::lock_guard<std::mutex> lock(g_mu);
  for (auto& x : local) g_records.push_back(std::move(x));
}

void write_trace() {
  cuptiActivityFlushAll(1);
  const char* path = std::getenv("RCC_TRACE_OUT");
  FILE* f = std::fopen(path ? path : "cupti_trace.tsv", "w");
  if (!f) return;
  std::lock_guard<std::mutex> lock(g_mu);
  for (const Record& r : g_records)
    std::fprintf(f, "%c\t%llu\t%llu\t%u\t%s\n", r.kind, (unsigned long long)r.start,
                 (unsigned long long)r.end, r.stream, r.name.c_str());
  std::fclose(f);
}

}  // namespace

extern "C" int InitializeInjection(void) {
  cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
  cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
  cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY);
  cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMSET);
  cuptiActivityEnable(CUPTI_ACTIVITY_KIND_RUNTIME);
  std::atexit(write_trace);
  return 1;
}
