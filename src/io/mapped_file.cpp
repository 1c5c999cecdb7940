#include "io/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "core/error.h"

namespace rcc {

namespace {

// A file shortened by another program while mapped makes every access past its new end raise
// SIGBUS. The handler finds the mapping the faulting address belongs to and ends the process with
// one `error:` line naming the file (exit status 1) instead of a crash; a SIGBUS outside every
// registered mapping gets the default action. The table is lock-free for the handler: a slot is
// claimed by a compare-exchange on `begin` and released by storing 0 there.
struct MappingSlot {
  std::atomic<uintptr_t> begin{0}, end{0};
  std::atomic<const char*> path{nullptr};
};
constexpr int kSlots = 1024;
MappingSlot g_slots[kSlots];

void write_all(const char* s) {
  size_t n = std::strlen(s);
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= size_t(w);
  }
}

void on_sigbus(int sig, siginfo_t* info, void*) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(info->si_addr);
  for (MappingSlot& s : g_slots) {
    const uintptr_t b = s.begin.load(std::memory_order_acquire);
    if (b <= 1 || a < b || a >= s.end.load(std::memory_order_acquire)) continue;  // 1: being set
    const char* path = s.path.load(std::memory_order_acquire);
    write_all("error: ");
    write_all(path ? path : "a mapped file");
    write_all(
        ": the file became shorter while rcc was reading it (changed or truncated by another "
        "program); nothing was written\n");
    ::_exit(1);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGBUS, &sa, nullptr);
  });
}

// The slot index, or -1 when the table is full (the mapping then goes unregistered: a SIGBUS in it
// gets the default action).
int register_mapping(const void* data, size_t size, const char* path) {
  install_handler();
  const uintptr_t b = reinterpret_cast<uintptr_t>(data);
  for (int i = 0; i < kSlots; ++i) {
    uintptr_t expected = 0;
    // Claim with a sentinel first, so that the handler never sees a begin without its end.
    if (!g_slots[i].begin.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) continue;
    g_slots[i].path.store(path, std::memory_order_release);
    g_slots[i].end.store(b + size, std::memory_order_release);
    g_slots[i].begin.store(b, std::memory_order_release);
    return i;
  }
  return -1;
}

void unregister_mapping(int slot) {
  if (slot < 0) return;
  g_slots[slot].begin.store(1, std::memory_order_release);  // held, matches nothing (end <= 1)
  g_slots[slot].end.store(0, std::memory_order_release);
  g_slots[slot].path.store(nullptr, std::memory_order_release);
  g_slots[slot].begin.store(0, std::memory_order_release);
}

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open: ", std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail(path, ": cannot stat: ", std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, ": not a regular file");
  }
  std::shared_ptr<MappedFile> m(new MappedFile());
  m->path_ = path;
  m->size_ = size_t(st.st_size);
  if (m->size_ > 0) {
    void* p = mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      ::close(fd);
      fail(path, ": cannot map: ", std::strerror(e));
    }
    m->data_ = static_cast<unsigned char*>(p);
    m->slot_ = register_mapping(m->data_, m->size_, m->path_.c_str());
  }
  ::close(fd);
  return m;
}

MappedFile::~MappedFile() {
  unregister_mapping(slot_);
  if (data_) munmap(data_, size_);
}

}  // namespace rcc
