// Where the CLI writes, checked in one place before any long work: an output must not be one of
// the command's inputs (the same file by any path: another spelling, a hard link, a symbolic
// link; "-" is the file stdin comes from; a model directory stands for its files), a file output
// must not be a directory, and the directory it goes into must exist and be writable. Every
// command that writes calls these before loading a model or reading its data, so a careless
// command line fails at once, names the flag and the file, and changes nothing.
//
// A symbolic link given as an output file is written through: the file it points to gets the new
// content and the link stays (outputs are written to a temporary file and renamed into place, so
// writing to the link's own path would replace the link by a regular file).
#pragma once
#include <string>
#include <vector>

namespace rcc::cli {

// An input of a command: the flag that named it ("--input", "--model", "memory file") and its
// path. A directory input (a model) counts as every file directly in it.
struct InputPath {
  std::string flag;
  std::string path;
};

// The inputs among `candidates` that were given (empty paths are skipped).
std::vector<InputPath> given_inputs(const std::vector<InputPath>& candidates);

struct OutputFileRules {
  // The output's directory (and its parents) may be missing: the command creates them (the
  // nearest existing ancestor must then be a writable directory).
  bool create_parents = false;
  // Check that the directory is writable (off for a file that is only rewritten when stale;
  // check_output_file is called again before writing it).
  bool writable = true;
};

// Checks the output file `out` of `flag` against `inputs` and `rules`; throws (naming the flag
// and the path) when it is refused. Returns the path to write: `out`, or the file a symbolic link
// `out` points to.
std::string check_output_file(const std::string& out, const std::string& flag,
                              const std::vector<InputPath>& inputs,
                              const OutputFileRules& rules = {});

struct OutputDirRules {
  bool may_exist_non_empty = false;  // an existing directory with files in it is accepted
  bool must_not_exist = false;       // the command creates the directory itself
};

// Checks the output directory `out` of `flag`: not an existing file, not an existing non-empty
// directory (unless allowed), not one of `inputs` nor inside a directory input, and its nearest
// existing ancestor a writable directory (missing parents are created).
void check_output_dir(const std::string& out, const std::string& flag,
                      const std::vector<InputPath>& inputs, const OutputDirRules& rules = {});

}  // namespace rcc::cli
