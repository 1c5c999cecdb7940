// Crash-safe file replacement. A file is written to a temporary beside its target
// (`<target>.tmp.<pid>`), flushed to disk, renamed over the target, and the folder is flushed so
// that the rename itself survives a power loss. A failure at any point leaves the old file (or no
// file) and no temporary; a temporary left by a killed process is removed by the next write of the
// same target once its process is gone. Readers see the old file or the new one, never a mix.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace rcc {

// `write` receives a function that appends bytes; it may be called many times.
void write_file_atomic(
    const std::string& path,
    const std::function<void(const std::function<void(const void*, size_t)>&)>& write);

void write_string_atomic(const std::string& path, const std::string& content);

// `<path>.tmp.<this process id>`: where a replacement of `path` (a file or a folder) is built.
std::string temporary_path(const std::string& path);

// Removes `<path>.tmp.<pid>` files and folders beside `path` whose process no longer runs (left by
// a killed writer). Temporaries of running processes are kept. Errors are ignored (best effort).
void remove_stale_temporaries(const std::string& path);

// fsync of the folder holding `path` (after a rename into it, so the new name is on disk).
// Throws naming the folder when flushing fails (a folder without read permission is skipped).
void sync_parent_dir(const std::string& path);

}  // namespace rcc
