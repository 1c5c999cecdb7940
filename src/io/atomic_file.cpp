#include "io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "core/error.h"

namespace rcc {

namespace fs = std::filesystem;

namespace {
// "dir/" and "dir" name the same folder; its temporary goes beside it, not into it.
std::string without_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}
}  // namespace

std::string temporary_path(const std::string& path) {
  return without_trailing_slashes(path) + ".tmp." + std::to_string(::getpid());
}

void remove_stale_temporaries(const std::string& path) {
  std::error_code ec;
  const fs::path p(without_trailing_slashes(path));
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string prefix = p.filename().string() + ".tmp.";
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::strtol(digits.c_str(), nullptr, 10);
    if (pid <= 0 || pid == long(::getpid())) continue;
    if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to probe)
    std::error_code rm;
    fs::remove_all(it->path(), rm);
  }
}

void sync_parent_dir(const std::string& path) {
  const fs::path p(without_trailing_slashes(path));
  const std::string dir = p.has_parent_path() ? p.parent_path().string() : std::string(".");
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 && errno == EACCES) return;  // a folder we may write but not read: cannot be flushed
  if (fd < 0) fail(dir, ": cannot open folder to flush it: ", std::strerror(errno));
  // EINVAL: the file system cannot flush folders (some network and FUSE file systems); the rename
  // is then as durable as that file system makes it.
  if (::fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
    const int e = errno;
    ::close(fd);
    fail(dir, ": fsync of the folder failed: ", std::strerror(e));
  }
  ::close(fd);
}

void write_file_atomic(
    const std::string& path,
    const std::function<void(const std::function<void(const void*, size_t)>&)>& write) {
  remove_stale_temporaries(path);
  const std::string tmp = temporary_path(path);
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
  sync_parent_dir(path);
}

void write_string_atomic(const std::string& path, const std::string& content) {
  write_file_atomic(path, [&](const auto& out) { out(content.data(), content.size()); });
}

}  // namespace rcc
