// Advisory exclusive locks (flock) between rcc processes that rewrite the same file or folder:
// `compress --append` and `compress --out` on one memory, `train` on one output folder. The lock
// lives on the file itself, so nothing is left behind by a killed process (the kernel drops it).
// A file replaced by rename while a process waited is a new file: the lock is taken again on it.
#pragma once
#include <string>

namespace rcc {

class FileLock {
 public:
  enum class Wait { Block, Refuse };
  // Locks the existing file or folder `path`. Block: when another process holds it, one note on
  // stderr, then waits for it. Refuse: throws "<path>: in use by another rcc <what>".
  static FileLock exclusive(const std::string& path, Wait wait, const std::string& what);

  FileLock() = default;
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&& o) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  bool held() const { return fd_ >= 0; }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace rcc
