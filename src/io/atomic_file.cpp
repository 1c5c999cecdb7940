#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/error.h"

namespace rcc {

void write_file_atomic(const std::string& path,
                       const std::function<void(const std::function<void(const void*, size_t)>&)>& write) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(path, ": cannot create temporary file: ", std::strerror(errno));
  auto cleanup = [&] {
    ::close(fd);
    ::unlink(tmp.c_str());
  };
  try {
    write([&](const void* data, size_t n) {
      const char* p = static_cast<const char*>(data);
      while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
          if (errno == EINTR) continue;
          fail(path, ": write failed: ", std::strerror(errno));
        }
        p += w;
        n -= size_t(w);
      }
    });
    if (::fsync(fd) != 0) fail(path, ": fsync failed: ", std::strerror(errno));
  } catch (...) {
    cleanup();
    throw;
  }
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    fail(path, ": close failed: ", std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    fail(path, ": cannot rename temporary file into place: ", std::strerror(e));
  }
}

void write_string_atomic(const std::string& path, const std::string& content) {
  write_file_atomic(path, [&](const auto& out) { out(content.data(), content.size()); });
}

}  // namespace rcc
