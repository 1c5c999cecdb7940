#include "paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace rcc::cli {

namespace fs = std::filesystem;

namespace {

// `out` with a symbolic link in its last component followed to the file it names (which may not
// exist yet: a dangling link is written through too).
fs::path follow_links(const std::string& flag, const std::string& out) {
  fs::path p = out;
  for (int hops = 0; hops < 40; ++hops) {
    std::error_code ec;
    if (!fs::is_symlink(fs::symlink_status(p, ec))) return p;
    const fs::path target = fs::read_symlink(p, ec);
    if (ec) fail(flag, " ", out, ": cannot read the symbolic link (", ec.message(), ")");
    p = target.is_absolute() ? target : p.parent_path() / target;
  }
  fail(flag, " ", out, ": too many levels of symbolic links");
}

// Whether `a` and `b` are the same existing file (device and inode).
bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  const bool eq = fs::equivalent(a, b, ec);
  return !ec && eq;
}

// Whether stdin is redirected from the file `p`.
bool is_stdin(const fs::path& p) {
  struct stat in {
  }, f{};
  return ::fstat(0, &in) == 0 && ::stat(p.c_str(), &f) == 0 && S_ISREG(in.st_mode) &&
         in.st_dev == f.st_dev && in.st_ino == f.st_ino;
}

// Throws when `p` (the output of `flag`, given as `out`) is one of `inputs`: the same file, or a
// file directly in a directory input.
void refuse_inputs(const fs::path& p, const std::string& flag, const std::string& out,
                   const std::vector<InputPath>& inputs) {
  for (const InputPath& in : inputs) {
    if (in.path == "-") {
      if (is_stdin(p))
        fail(flag, " ", out, ": is the file stdin comes from (", in.flag,
             " -); refusing to overwrite an input");
      continue;
    }
    if (same_file(p, in.path))
      fail(flag, " ", out, ": is the same file as ", in.flag, " ", in.path,
           "; refusing to overwrite an input");
    std::error_code ec;
    if (!fs::is_directory(in.path, ec)) continue;
    for (fs::directory_iterator it(in.path, ec), end; !ec && it != end; it.increment(ec))
      if (same_file(p, it->path()))
        fail(flag, " ", out, ": is a file of the ", in.flag, " directory ", in.path,
             "; refusing to overwrite an input");
  }
}

// Throws unless `dir` (the directory an output goes into; with `create_parents` its nearest
// existing ancestor) is an existing, writable directory.
void check_writable_dir(const std::string& flag, const std::string& out, fs::path dir,
                        bool create_parents) {
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (create_parents)
    while (!fs::exists(fs::status(dir, ec)) && dir.has_parent_path() && dir.parent_path() != dir)
      dir = dir.parent_path();
  const fs::file_status st = fs::status(dir, ec);
  if (!fs::exists(st)) fail(flag, " ", out, ": directory ", dir.string(), " does not exist");
  if (!fs::is_directory(st)) fail(flag, " ", out, ": ", dir.string(), " is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    fail(flag, " ", out, ": directory ", dir.string(), " is not writable (", std::strerror(errno),
         ")");
}

}  // namespace

std::vector<InputPath> given_inputs(const std::vector<InputPath>& candidates) {
  std::vector<InputPath> given;
  for (const InputPath& c : candidates)
    if (!c.path.empty()) given.push_back(c);
  return given;
}

std::string check_output_file(const std::string& out, const std::string& flag,
                              const std::vector<InputPath>& inputs, const OutputFileRules& rules) {
  if (out.empty()) throw UsageError(flag + " is empty");
  const fs::path target = follow_links(flag, out);
  refuse_inputs(target, flag, out, inputs);
  std::error_code ec;
  const fs::file_status st = fs::status(target, ec);
  if (fs::is_directory(st)) fail(flag, " ", out, ": is a directory (a file is expected)");
  if (fs::exists(st) && !fs::is_regular_file(st)) fail(flag, " ", out, ": is not a regular file");
  if (!target.has_filename()) fail(flag, " ", out, ": names a directory (a file is expected)");
  if (rules.writable) check_writable_dir(flag, out, target.parent_path(), rules.create_parents);
  return target.string();
}

void check_output_dir(const std::string& out, const std::string& flag,
                      const std::vector<InputPath>& inputs, const OutputDirRules& rules) {
  if (out.empty()) throw UsageError(flag + " is empty");
  std::error_code ec;
  const fs::file_status st = fs::status(out, ec);  // a link to a directory is that directory
  if (!fs::exists(st)) {
    check_writable_dir(flag, out, fs::path(out).parent_path(), /*create_parents=*/true);
    return;
  }
  if (rules.must_not_exist)
    fail(flag, " ", out, ": already exists (a new directory is written there)");
  if (!fs::is_directory(st)) fail(flag, " ", out, ": exists and is not a directory");
  refuse_inputs(out, flag, out, inputs);
  if (!rules.may_exist_non_empty && !fs::is_empty(out, ec))
    fail(flag, " ", out,
         ": is a directory that is not empty (a new or empty directory is needed; nothing there "
         "is overwritten)");
  if (::access(out.c_str(), W_OK | X_OK) != 0)
    fail(flag, " ", out, ": directory is not writable (", std::strerror(errno), ")");
}

}  // namespace rcc::cli
