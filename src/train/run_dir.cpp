#include "train/run_dir.h"

#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "io/atomic_file.h"

namespace rcc {

namespace fs = std::filesystem;

namespace {

struct Paths {
  fs::path model, tmp, old;
  explicit Paths(const std::string& out)
      : model(fs::path(out) / "model"),
        tmp(fs::path(out) / "model.tmp"),
        old(fs::path(out) / "model.old") {}
};

// model.tmp -> model (the current one, if any, set aside as model.old on the way), then model.old
// removed. Every step leaves a state that recover_checkpoint() completes.
void install(const Paths& p) {
  fs::remove_all(p.old);
  if (fs::exists(p.model)) fs::rename(p.model, p.old);
  fs::rename(p.tmp, p.model);
  sync_parent_dir(p.model.string());
  fs::remove_all(p.old);
}

}  // namespace

void recover_checkpoint(const std::string& out_dir) {
  const Paths p(out_dir);
  if (fs::exists(p.tmp) && !fs::exists(p.tmp / "state.rcct")) fs::remove_all(p.tmp);  // partial
  if (fs::exists(p.tmp)) {
    std::fprintf(stderr, "%s: completing an interrupted checkpoint (model.tmp -> model)\n",
                 out_dir.c_str());
    install(p);
  } else if (!fs::exists(p.model) && fs::exists(p.old)) {
    std::fprintf(stderr, "%s: restoring the previous checkpoint (model.old -> model)\n",
                 out_dir.c_str());
    fs::rename(p.old, p.model);
    sync_parent_dir(p.model.string());
  } else if (fs::exists(p.old)) {
    fs::remove_all(p.old);
  }
}

RunDir open_run_dir(const std::string& out_dir, bool resume, bool lead) {
  RunDir d;
  d.out_dir = out_dir;
  d.model_dir = (fs::path(out_dir) / "model").string();
  d.log_path = (fs::path(out_dir) / "log.jsonl").string();
  if (lead && fs::exists(out_dir)) {
    RCC_CHECK(fs::is_directory(out_dir), out_dir, ": --out exists and is not a folder");
    d.lock = FileLock::exclusive(out_dir, FileLock::Wait::Refuse, "train");
    recover_checkpoint(out_dir);
  }
  d.resuming = resume && fs::exists(d.model_dir);
  RCC_CHECK(resume || !fs::exists(d.model_dir), d.model_dir,
            " already exists: pass --resume to continue it, or choose another --out");
  RCC_CHECK(!d.resuming || fs::exists(fs::path(d.model_dir) / "state.rcct"), d.model_dir,
            ": no state.rcct (not a training checkpoint), cannot resume");
  fs::create_directories(out_dir);
  if (lead && !d.lock.held())
    d.lock = FileLock::exclusive(out_dir, FileLock::Wait::Refuse, "train");
  return d;
}

void replace_checkpoint(const RunDir& dir, const std::function<void(const std::string&)>& fill) {
  const Paths p(dir.out_dir);
  fs::remove_all(p.tmp);
  fill(p.tmp.string());
  RCC_CHECK(fs::exists(p.tmp / "state.rcct"), p.tmp.string(), ": checkpoint without state.rcct");
  install(p);
}

}  // namespace rcc
