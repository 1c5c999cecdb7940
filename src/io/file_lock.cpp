#include "io/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace rcc {

FileLock FileLock::exclusive(const std::string& path, Wait wait, const std::string& what) {
  bool noted = false;
  for (;;) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path, ": cannot open to lock it: ", std::strerror(errno));
    int rc = ::flock(fd, LOCK_EX | LOCK_NB);
    if (rc != 0 && errno == EWOULDBLOCK) {
      if (wait == Wait::Refuse) {
        ::close(fd);
        fail(path, ": in use by another rcc ", what,
             " (wait for it to finish, or use another path)");
      }
      if (!noted)
        std::fprintf(stderr, "waiting for another rcc %s on %s\n", what.c_str(), path.c_str());
      noted = true;
      do rc = ::flock(fd, LOCK_EX);
      while (rc != 0 && errno == EINTR);
    }
    if (rc != 0) {
      const int e = errno;
      ::close(fd);
      fail(path, ": cannot lock: ", std::strerror(e));
    }
    // The holder may have replaced the file (rename over it) before releasing: then this lock is on
    // the old file, and the new one is locked instead.
    struct stat locked, now;
    if (::fstat(fd, &locked) == 0 && ::stat(path.c_str(), &now) == 0 &&
        locked.st_dev == now.st_dev && locked.st_ino == now.st_ino)
      return FileLock(fd);
    ::close(fd);
    if (::stat(path.c_str(), &now) != 0) fail(path, ": removed while waiting for its lock");
  }
}

FileLock& FileLock::operator=(FileLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace rcc
