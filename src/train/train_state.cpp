#include "train/train_state.h"

#include <cstring>

#include "core/checked.h"
#include "core/hash.h"
#include "io/container.h"
#include "io/mapped_file.h"

namespace rcc {

namespace {

const char kMagic[8] = {'R', 'C', 'C', 'T', 'R', 'A', 'I', 'N'};

// Names, shapes and offsets of the layout: a state only fits the model it was written with.
uint64_t layout_hash(const ParamLayout& layout) {
  Xxh64 h;
  for (const ParamEntry& e : layout.entries()) {
    h.update(e.name.data(), e.name.size());
    h.update(e.shape.data(), e.shape.size() * sizeof(int64_t));
    h.update(&e.offset, sizeof e.offset);
  }
  return h.digest();
}

}  // namespace

void save_train_state(const std::string& path, const TrainState& s, const ParamLayout& layout) {
  const size_t n = size_t(layout.new_buffer().numel());
  RCC_CHECK(size_t(s.m.numel()) == n && size_t(s.v.numel()) == n,
            "train state: optimizer moments do not match the layout");
  nlohmann::json h;
  h["format"] = "rcc-train-state";
  h["step"] = s.step;
  h["adam_t"] = s.adam_t;
  h["rng"] = nlohmann::json::array();
  for (uint64_t w : s.rng) h["rng"].push_back(std::to_string(w));  // exact in any JSON reader
  h["tokens"] = s.tokens;
  h["seconds"] = s.seconds;
  h["floats"] = n;
  h["layout_hash"] = std::to_string(layout_hash(layout));
  write_container(path, kMagic, 1, h, [&](const auto& out) {
    out(s.m.raw(), n * 4);
    out(s.v.raw(), n * 4);
  });
}

TrainState load_train_state(const std::string& path, const ParamLayout& layout) {
  ContainerView c = read_container(path, kMagic, 1, "training state file");
  const nlohmann::json& h = c.header;
  const size_t n = size_t(layout.new_buffer().numel());
  try {
    RCC_CHECK(h.at("layout_hash").get<std::string>() == std::to_string(layout_hash(layout)) &&
                  h.at("floats").is_number_unsigned() && h.at("floats").get<uint64_t>() == n,
              path, ": the training state belongs to a model with other parameters");
    // m and v, f32: checked before anything is allocated for them.
    const int64_t want =
        checked_product(str_cat(path, ": training state field 'floats' = ", n), 2, int64_t(n), 4);
    RCC_CHECK(c.payload_bytes == uint64_t(want), path, ": payload of ", c.payload_bytes,
              " bytes, expected ", want);
    TrainState s;
    s.step = h.at("step").get<int64_t>();
    s.adam_t = h.at("adam_t").get<int64_t>();
    RCC_CHECK(s.step >= 0 && s.adam_t >= 0, path, ": negative step");
    const auto& rng = h.at("rng");
    RCC_CHECK(rng.is_array() && rng.size() == 4, path, ": bad rng state");
    for (size_t i = 0; i < 4; ++i) s.rng[i] = std::stoull(rng[i].get<std::string>());
    s.tokens = h.at("tokens").get<int64_t>();
    s.seconds = h.at("seconds").get<double>();
    s.m = layout.new_buffer();
    s.v = layout.new_buffer();
    std::memcpy(s.m.raw(), c.payload, n * 4);
    std::memcpy(s.v.raw(), c.payload + n * 4, n * 4);
    return s;
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": bad training state header: ", e.what());
  } catch (const std::logic_error& e) {  // stoull
    fail(path, ": bad training state header: ", e.what());
  }
}

}  // namespace rcc
