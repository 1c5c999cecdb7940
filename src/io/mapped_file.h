// A read-only memory mapping of a whole file (RAII). Tensors borrowed from it hold a shared_ptr.
// If another program shortens the file while it is mapped, the next read past the new end ends the
// process with one `error:` line naming the file (exit status 1), not a crash (SIGBUS handler).
#pragma once
#include <cstddef>
#include <memory>
#include <string>

namespace rcc {

class MappedFile {
 public:
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  unsigned char* data_ = nullptr;
  size_t size_ = 0;
  int slot_ = -1;  // in the SIGBUS handler's table of mappings
};

}  // namespace rcc
