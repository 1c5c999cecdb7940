#include "server/store.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "io/atomic_file.h"

namespace rcc::server {

namespace fs = std::filesystem;

namespace {

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_id() {
  static std::mutex mu;
  static std::random_device rd;
  static std::mt19937_64 gen((uint64_t(rd()) << 32) ^ rd() ^ uint64_t(now_seconds()));
  std::lock_guard<std::mutex> lock(mu);
  char buf[32];
  std::snprintf(buf, sizeof buf, "mem_%016llx", (unsigned long long)gen());
  return buf;
}

// A prepared statement (RAII) with positional binding.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
      fail("memory store: ", sqlite3_errmsg(db), " in: ", sql);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  bool step() {  // true: a row is available
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail("memory store: ", sqlite3_errmsg(db_));
  }
  std::string text(int c) const {
    const unsigned char* t = sqlite3_column_text(s_, c);
    return t ? std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(s_, c)))
             : std::string();
  }
  int64_t integer(int c) const { return sqlite3_column_int64(s_, c); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

const char* kColumns =
    "id, name, status, error, mode, encoder_fingerprint, tokens, slots, bytes, progress_done, "
    "progress_total, created_at, updated_at";

MemoryRecord read_row(const Stmt& s) {
  MemoryRecord r;
  r.id = s.text(0);
  r.name = s.text(1);
  r.status = s.text(2);
  r.error = s.text(3);
  r.mode = s.text(4);
  r.encoder_fingerprint = s.text(5);
  r.tokens = s.integer(6);
  r.slots = s.integer(7);
  r.bytes = s.integer(8);
  r.progress_done = s.integer(9);
  r.progress_total = s.integer(10);
  r.created_at = s.integer(11);
  r.updated_at = s.integer(12);
  return r;
}

}  // namespace

bool valid_memory_id(const std::string& id) {
  if (id.size() != 20 || id.compare(0, 4, "mem_") != 0) return false;
  return id.find_first_not_of("0123456789abcdef", 4) == std::string::npos;
}

MemoryStore::MemoryStore(const std::string& dir) : dir_(dir) {
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "memories", ec);
  RCC_CHECK(!ec, dir, ": cannot create the store folder: ", ec.message());
  const std::string db_path = (fs::path(dir) / "index.sqlite").string();
  if (sqlite3_open_v2(db_path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    fail(db_path, ": cannot open the store index: ", msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  try {
    // WAL: readers never wait for the writer; synchronous=FULL: a committed row survives a power
    // loss (the rows are few and small).
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=FULL");
    exec(
        "CREATE TABLE IF NOT EXISTS memories ("
        " id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, error TEXT NOT NULL,"
        " mode TEXT NOT NULL, encoder_fingerprint TEXT NOT NULL, tokens INTEGER NOT NULL,"
        " slots INTEGER NOT NULL, bytes INTEGER NOT NULL, progress_done INTEGER NOT NULL,"
        " progress_total INTEGER NOT NULL, created_at INTEGER NOT NULL,"
        " updated_at INTEGER NOT NULL, seq INTEGER NOT NULL)");
    exec("CREATE INDEX IF NOT EXISTS memories_seq ON memories(seq)");
    repair();
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

MemoryStore::~MemoryStore() {
  sqlite3_close(db_);
}

void MemoryStore::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    fail(dir_, "/index.sqlite: ", msg);
  }
}

void MemoryStore::repair() {
  const int64_t t = now_seconds();
  Stmt(db_,
       "UPDATE memories SET status='failed', error='interrupted: the server stopped during the "
       "compression', updated_at=? WHERE status='compressing'")
      .bind(1, t)
      .step();
  Stmt(db_,
       "UPDATE memories SET status='ready', error='an append was interrupted (the server stopped); "
       "the memory is as it was before it', updated_at=? WHERE status='appending'")
      .bind(1, t)
      .step();
  // Ready rows whose file is gone: failed. Files without a row (or of a failed row): removed,
  // with the temporaries of killed writes.
  std::vector<std::string> ready;
  {
    Stmt s(db_, "SELECT id FROM memories WHERE status='ready'");
    while (s.step()) ready.push_back(s.text(0));
  }
  for (const std::string& id : ready)
    if (!fs::exists(file_path(id)))
      Stmt(db_, "UPDATE memories SET status='failed', error='its file is missing' WHERE id=?")
          .bind(1, id)
          .step();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(dir_) / "memories", ec)) {
    const std::string name = e.path().filename().string();
    const std::string id = name.substr(0, name.find('.'));
    const auto r = valid_memory_id(id) ? get(id) : std::nullopt;
    const bool keep = r && r->status == "ready" && name == id + ".rccm";
    if (!keep) fs::remove_all(e.path(), ec);
  }
}

MemoryRecord MemoryStore::create(const std::string& name, const std::string& mode,
                                 const std::string& fingerprint, int64_t progress_total) {
  std::lock_guard<std::mutex> lock(mu_);
  MemoryRecord r;
  r.id = new_id();
  r.name = name;
  r.status = "compressing";
  r.mode = mode;
  r.encoder_fingerprint = fingerprint;
  r.progress_total = progress_total;
  r.created_at = r.updated_at = now_seconds();
  Stmt(db_,
       "INSERT INTO memories (id, name, status, error, mode, encoder_fingerprint, tokens, slots, "
       "bytes, progress_done, progress_total, created_at, updated_at, seq) VALUES "
       "(?, ?, 'compressing', '', ?, ?, 0, 0, 0, 0, ?, ?, ?, "
       "(SELECT IFNULL(MAX(seq), 0) + 1 FROM memories))")
      .bind(1, r.id)
      .bind(2, name)
      .bind(3, mode)
      .bind(4, fingerprint)
      .bind(5, progress_total)
      .bind(6, r.created_at)
      .bind(7, r.updated_at)
      .step();
  return r;
}

std::optional<MemoryRecord> MemoryStore::get(const std::string& id) {
  Stmt s(db_, (std::string("SELECT ") + kColumns + " FROM memories WHERE id=?").c_str());
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_row(s);
}

std::vector<MemoryRecord> MemoryStore::list(int64_t limit, const std::string& after,
                                            bool* has_more) {
  std::vector<MemoryRecord> out;
  const std::string sql =
      std::string("SELECT ") + kColumns +
      " FROM memories WHERE (? = '' OR seq < (SELECT seq FROM memories WHERE id = ?)) "
      "ORDER BY seq DESC LIMIT ?";
  Stmt s(db_, sql.c_str());
  s.bind(1, after).bind(2, after).bind(3, limit + 1);
  while (s.step()) out.push_back(read_row(s));
  *has_more = int64_t(out.size()) > limit;
  if (*has_more) out.pop_back();
  return out;
}

int64_t MemoryStore::count() {
  Stmt s(db_, "SELECT COUNT(*) FROM memories");
  s.step();
  return s.integer(0);
}

bool MemoryStore::remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt s(db_, "DELETE FROM memories WHERE id=?");
  s.bind(1, id).step();
  const bool existed = sqlite3_changes(db_) > 0;
  std::error_code ec;
  fs::remove(file_path(id), ec);
  return existed;
}

void MemoryStore::set_status(const std::string& id, const std::string& status,
                             const std::string& error) {
  Stmt(db_, "UPDATE memories SET status=?, error=?, updated_at=? WHERE id=?")
      .bind(1, status)
      .bind(2, error)
      .bind(3, now_seconds())
      .bind(4, id)
      .step();
}

void MemoryStore::set_ready(const std::string& id, int64_t tokens, int64_t slots, int64_t bytes) {
  Stmt(db_,
       "UPDATE memories SET status='ready', error='', tokens=?, slots=?, bytes=?, "
       "progress_done=progress_total, updated_at=? WHERE id=?")
      .bind(1, tokens)
      .bind(2, slots)
      .bind(3, bytes)
      .bind(4, now_seconds())
      .bind(5, id)
      .step();
}

std::string MemoryStore::file_path(const std::string& id) const {
  return (fs::path(dir_) / "memories" / (id + ".rccm")).string();
}

}  // namespace rcc::server
