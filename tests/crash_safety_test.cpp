// Crash safety of what rcc writes (docs/security.md): temporaries of killed writers are cleaned
// up, an interrupted checkpoint replacement is completed or rolled back to the newest complete
// checkpoint, writers of one file or folder exclude each other, and a mapped file shortened by
// another program ends the process with an error line naming it instead of a crash.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/file_lock.h"
#include "io/mapped_file.h"
#include "test_util.h"
#include "train/run_dir.h"

namespace rcc {
namespace {

namespace fs = std::filesystem;

// The id of a process that has exited (and was reaped): no process runs with it now.
pid_t dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

TEST(AtomicFile, RemovesTemporariesOfDeadWritersOnly) {
  test::TempDir tmp;
  const std::string target = tmp.file("memory.rccm");
  const std::string dead = target + ".tmp." + std::to_string(dead_pid());
  const std::string alive = target + ".tmp." + std::to_string(getppid());  // our parent runs
  const std::string other = tmp.file("other.rccm.tmp." + std::to_string(dead_pid()));
  for (const std::string& p : {dead, alive, other}) test::write_file(p, "partial");
  fs::create_directories(target + ".tmp.1x");  // not a temporary of ours: not a pid
  write_string_atomic(target, "complete");
  EXPECT_EQ(test::read_file(target), "complete");
  EXPECT_FALSE(fs::exists(dead)) << "a dead writer's temporary is removed";
  EXPECT_TRUE(fs::exists(alive)) << "a running writer's temporary is kept";
  EXPECT_TRUE(fs::exists(other)) << "another file's temporary is left alone";
  EXPECT_TRUE(fs::exists(target + ".tmp.1x"));
  EXPECT_FALSE(fs::exists(temporary_path(target))) << "no temporary of our own remains";
}

// A fake checkpoint folder whose file `id` tells which one it is; `complete` adds state.rcct.
void fake_checkpoint(const fs::path& dir, const std::string& id, bool complete) {
  fs::create_directories(dir);
  test::write_file((dir / "id").string(), id);
  if (complete) test::write_file((dir / "state.rcct").string(), "state");
}

std::string model_id(const test::TempDir& out) {
  return test::read_file(out.file("model/id"));
}

TEST(RunDir, RecoversEveryInterruptedCheckpointReplacement) {
  {  // Crash after model -> model.old, before model.tmp -> model: the new one is complete.
    test::TempDir out;
    fake_checkpoint(out.file("model.old"), "old", true);
    fake_checkpoint(out.file("model.tmp"), "new", true);
    recover_checkpoint(out.path());
    EXPECT_EQ(model_id(out), "new");
    EXPECT_FALSE(fs::exists(out.file("model.old")));
    EXPECT_FALSE(fs::exists(out.file("model.tmp")));
  }
  {  // Only the set-aside checkpoint is left.
    test::TempDir out;
    fake_checkpoint(out.file("model.old"), "old", true);
    recover_checkpoint(out.path());
    EXPECT_EQ(model_id(out), "old");
    EXPECT_FALSE(fs::exists(out.file("model.old")));
  }
  {  // Crash while model.tmp was being written: it is partial and goes; model stays.
    test::TempDir out;
    fake_checkpoint(out.file("model"), "current", true);
    fake_checkpoint(out.file("model.tmp"), "partial", false);
    recover_checkpoint(out.path());
    EXPECT_EQ(model_id(out), "current");
    EXPECT_FALSE(fs::exists(out.file("model.tmp")));
  }
  {  // Crash after the new checkpoint was complete, before the first rename: it is installed.
    test::TempDir out;
    fake_checkpoint(out.file("model"), "current", true);
    fake_checkpoint(out.file("model.tmp"), "new", true);
    recover_checkpoint(out.path());
    EXPECT_EQ(model_id(out), "new");
    EXPECT_FALSE(fs::exists(out.file("model.old")));
  }
  {  // Crash after the second rename, before model.old was removed.
    test::TempDir out;
    fake_checkpoint(out.file("model"), "new", true);
    fake_checkpoint(out.file("model.old"), "old", true);
    recover_checkpoint(out.path());
    EXPECT_EQ(model_id(out), "new");
    EXPECT_FALSE(fs::exists(out.file("model.old")));
  }
  {  // Nothing interrupted, or no folder at all: nothing changes.
    test::TempDir out;
    fake_checkpoint(out.file("model"), "current", true);
    recover_checkpoint(out.path());
    EXPECT_EQ(model_id(out), "current");
    EXPECT_NO_THROW(recover_checkpoint(out.file("absent")));
  }
}

TEST(RunDir, ASecondRunIntoTheSameFolderIsRefused) {
  test::TempDir out;
  const RunDir first = open_run_dir(out.file("run"), false, true);
  EXPECT_TRUE(first.lock.held());
  try {
    open_run_dir(out.file("run"), true, true);
    FAIL() << "a second lead on one output folder was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another rcc train"), std::string::npos)
        << e.what();
  }
  // Non-lead ranks of the same run only read.
  EXPECT_NO_THROW(open_run_dir(out.file("run"), true, false));
}

TEST(FileLock, WaitsForTheHolderAndFollowsAReplacedFile) {
  test::TempDir tmp;
  const std::string path = tmp.file("memory.rccm");
  write_string_atomic(path, "v1");
  // The child is started before any lock is taken here: a forked child would share (and keep
  // alive) the locks of the descriptors it inherits.
  int to_child[2], from_child[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(from_child), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    char c = 0;
    if (read(to_child[0], &c, 1) != 1) _exit(2);  // "lock now"
    FileLock l = FileLock::exclusive(path, FileLock::Wait::Block, "compress");
    c = test::read_file(path) == "v2" ? 'y' : 'n';
    if (write(from_child[1], &c, 1) != 1) _exit(2);
    if (read(to_child[0], &c, 1) != 1) _exit(2);  // hold until told to go
    _exit(0);
  }
  FileLock held = FileLock::exclusive(path, FileLock::Wait::Refuse, "compress");
  EXPECT_THROW(FileLock::exclusive(path, FileLock::Wait::Refuse, "compress"), Error);
  // The child blocks on the lock; the holder replaces the file and releases; the child must then
  // hold the lock on the new file (a third locker is refused while the child holds it).
  ASSERT_EQ(write(to_child[1], "l", 1), 1);
  usleep(200 * 1000);
  write_string_atomic(path, "v2");
  held = FileLock();
  char seen = 0;
  ASSERT_EQ(read(from_child[0], &seen, 1), 1);
  EXPECT_EQ(seen, 'y') << "the waiter read the file it locked after the replacement";
  EXPECT_THROW(FileLock::exclusive(path, FileLock::Wait::Refuse, "compress"), Error)
      << "the waiter's lock is on the current file";
  ASSERT_EQ(write(to_child[1], "g", 1), 1);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NO_THROW(FileLock::exclusive(path, FileLock::Wait::Refuse, "compress"));
}

TEST(MappedFileDeathTest, ShortenedWhileMappedIsAnErrorNamingTheFile) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  test::TempDir tmp;
  const std::string path = tmp.file("weights.safetensors");
  test::write_file(path, std::string(1 << 20, 'x'));
  EXPECT_EXIT(
      {
        auto m = MappedFile::open(path);
        if (truncate(path.c_str(), 0) != 0) _exit(3);
        volatile unsigned char c = m->data()[1 << 19];
        (void)c;
        _exit(4);  // not reached: the read faults
      },
      ::testing::ExitedWithCode(1), "error: .*weights.safetensors: the file became shorter");
}

}  // namespace
}  // namespace rcc
