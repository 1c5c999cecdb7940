// Atomic file writes: data goes to a temporary file beside the target, is flushed, then renamed
// over the target. A failure at any point leaves no partial file behind.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace rcc {

// `write` receives a function that appends bytes; it may be called many times.
void write_file_atomic(const std::string& path,
                       const std::function<void(const std::function<void(const void*, size_t)>&)>& write);

void write_string_atomic(const std::string& path, const std::string& content);

}  // namespace rcc
