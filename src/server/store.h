// The server's memory store (docs/server.md): memory files under DIR/memories/<id>.rccm and their
// index in DIR/index.sqlite (SQLite, one row per memory). A memory is visible from the moment it is
// created (status "compressing"), its file appears only complete (atomic replace), and the row
// turns "ready" after the file is in place. At open, rows left "compressing" by a stopped server
// become "failed"; rows left "appending" go back to "ready" (the file still holds the memory before
// the append); files without a row are removed. Thread-safe.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace rcc::server {

struct MemoryRecord {
  std::string id;                   // "mem_" + 16 hex digits
  std::string name;                 // the client's label ("" if none)
  std::string status;               // compressing | appending | ready | failed
  std::string error;                // why it failed (or why an append was lost)
  std::string mode;                 // compat | aligned
  std::string encoder_fingerprint;  // 16 hex digits of the model that made it
  int64_t tokens = 0, slots = 0, bytes = 0;
  int64_t progress_done = 0, progress_total = 0;  // tokens compressed of this job
  int64_t created_at = 0, updated_at = 0;         // unix seconds
};

class MemoryStore {
 public:
  // Opens (creating) the store in `dir` and repairs what a stopped server left (see above).
  explicit MemoryStore(const std::string& dir);
  ~MemoryStore();
  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  // A new row with status "compressing"; returns it.
  MemoryRecord create(const std::string& name, const std::string& mode,
                      const std::string& encoder_fingerprint, int64_t progress_total);
  std::optional<MemoryRecord> get(const std::string& id);
  // Newest first; `after`: the id of the last one of the previous page ("" for the first page).
  std::vector<MemoryRecord> list(int64_t limit, const std::string& after, bool* has_more);
  int64_t count();
  // Removes the row and its file; false when there was none. A memory being compressed or
  // appended to is refused by the caller before this.
  bool remove(const std::string& id);

  void set_status(const std::string& id, const std::string& status, const std::string& error = "");
  // After the file was written: status ready, with its counts.
  void set_ready(const std::string& id, int64_t tokens, int64_t slots, int64_t bytes);

  std::string file_path(const std::string& id) const;  // DIR/memories/<id>.rccm
  const std::string& dir() const { return dir_; }

 private:
  void exec(const std::string& sql);
  void repair();
  std::string dir_;
  sqlite3* db_ = nullptr;
  std::mutex mu_;
};

// Whether `id` has the form of a memory id (checked before it reaches a path or a query).
bool valid_memory_id(const std::string& id);

}  // namespace rcc::server
