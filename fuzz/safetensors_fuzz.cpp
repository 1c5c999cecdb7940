// libFuzzer target: arbitrary bytes as one .safetensors file (io/safetensors.h), written to a
// scratch file and opened with SafetensorsFile::open, which maps it as rcc maps a checkpoint.
// Contract: the file either opens or open() throws rcc::Error; any other exception, a crash, a
// sanitizer report or a leak is a finding. A file that opens must keep the promises of its
// header check, verified here for every tensor: its byte range lies inside the data region (8 +
// header length .. end of file), its size is shape x dtype size, ranges do not overlap; get()
// returns a tensor of that shape and size whose bytes are readable (converted to f32 where the
// dtype allows, else copied), and info()/get() of an unknown name throw rcc::Error.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "io/safetensors.h"

namespace {
constexpr const char* kTarget = "safetensors_fuzz";
rcc::fuzz::FuzzDir* dir = nullptr;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  dir = new rcc::fuzz::FuzzDir("safetensors");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rcc;
  const std::string path =
      dir->write("model.safetensors", {reinterpret_cast<const char*>(data), size});
  fuzz::expect_rcc_errors(kTarget, [&] {
    const SafetensorsFile f = SafetensorsFile::open(path);
    uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = header << 8 | data[i];
    const uint64_t data_bytes = size - 8 - header;  // open() checked 8 + header <= size
    std::vector<std::pair<size_t, size_t>> ranges;
    for (const auto& [name, info] : f.tensors()) {
      FUZZ_REQUIRE(kTarget, info.begin <= info.end && info.end <= data_bytes,
                   "tensor '" + name + "' lies outside the data region");
      FUZZ_REQUIRE(
          kTarget,
          uint64_t(shape_numel(info.shape)) * dtype_size(info.dtype) == info.end - info.begin,
          "tensor '" + name + "': shape x dtype size != its byte range");
      if (info.end > info.begin) ranges.emplace_back(info.begin, info.end);
      const Tensor t = f.get(name);
      FUZZ_REQUIRE(
          kTarget,
          t.shape() == info.shape && t.dtype() == info.dtype && t.nbytes() == info.end - info.begin,
          "get('" + name + "') differs from its header entry");
      const unsigned char* p = data + 8 + header + info.begin;
      FUZZ_REQUIRE(kTarget, t.nbytes() == 0 || std::memcmp(t.raw(), p, t.nbytes()) == 0,
                   "get('" + name + "') holds other bytes than the file");
      if (info.dtype != DType::F8_E4M3 && info.dtype != DType::F8_E5M2) {
        const Tensor g = t.to(DType::F32);
        FUZZ_REQUIRE(kTarget, g.numel() == t.numel(), "to(F32) changed the element count");
      }
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i)
      FUZZ_REQUIRE(kTarget, ranges[i].first >= ranges[i - 1].second, "tensor byte ranges overlap");
    for (const auto& [k, v] : f.metadata()) (void)k.size(), (void)v.size();
    const std::string unknown = "\x01no such tensor";
    if (!f.contains(unknown)) {
      const bool refused = !fuzz::expect_rcc_errors(kTarget, [&] { f.get(unknown); });
      FUZZ_REQUIRE(kTarget, refused, "get() of an unknown name did not throw");
    }
  });
  return 0;
}
