// Reading whole text files: plain, or gzip-compressed (any file that starts with the gzip magic
// 1f 8b is inflated, whatever its name; concatenated gzip members are read as one stream). Every
// command and loader that reads a text, JSON or JSONL file goes through here, so `.gz` works
// wherever a text file does. Errors name the path and the problem (missing, a directory,
// unreadable, corrupt or truncated gzip data).
#pragma once
#include <string>

namespace rcc {

// The file's bytes (decompressed when gzip). "-" is not special here (see the CLI's read_text).
std::string read_text_file(const std::string& path);

// Decompresses gzip data (one or more members); `origin` names the source in errors.
std::string gunzip(const std::string& data, const std::string& origin);

// True when `data` starts with the gzip magic bytes.
bool is_gzip(const std::string& data);

}  // namespace rcc
