// Atomic writes: modes, unchanged files left alone, nothing replaced when one file fails.
#include "io/file_writer.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "unit/test_support.hpp"

namespace meshbroker::io {
namespace {

namespace fs = std::filesystem;
using model::RenderedFile;

class FileWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("mb-writer-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  unsigned modeOf(const fs::path& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mode & 07777;
  }

  fs::path root_;
};

TEST_F(FileWriterTest, WritesContentWithModes) {
  auto report = writeFiles(root_, {{"tinc/tinc-up", "#!/bin/sh\n", 0755},
                                   {"tinc/hosts/chip", "Port = 655\n", 0644},
                                   {"secret", "key", 0600}});
  EXPECT_EQ(report.changed.size(), 3u);
  EXPECT_EQ(meshbroker::testing::readText(root_ / "tinc/hosts/chip"), "Port = 655\n");
  EXPECT_EQ(modeOf(root_ / "tinc/tinc-up"), 0755u);
  EXPECT_EQ(modeOf(root_ / "tinc/hosts/chip"), 0644u);
  EXPECT_EQ(modeOf(root_ / "secret"), 0600u);
}

TEST_F(FileWriterTest, LeavesUnchangedFilesAlone) {
  std::vector<RenderedFile> files = {{"a", "1", 0644}, {"b", "2", 0644}};
  writeFiles(root_, files);
  files[1].content = "3";
  auto report = writeFiles(root_, files);
  EXPECT_EQ(report.unchanged, std::vector<fs::path>{"a"});
  EXPECT_EQ(report.changed, std::vector<fs::path>{"b"});
  files[0].mode = 0755;  // a mode change alone is a change
  report = writeFiles(root_, files);
  EXPECT_EQ(report.changed, std::vector<fs::path>{"a"});
}

TEST_F(FileWriterTest, FailureReplacesNothing) {
  writeFiles(root_, {{"a", "old", 0644}});
  fs::create_directories(root_);
  std::ofstream(root_ / "blocker") << "a file where a folder should be";
  EXPECT_THROW(writeFiles(root_, {{"a", "new", 0644}, {"blocker/b", "x", 0644}}), WriteError);
  EXPECT_EQ(meshbroker::testing::readText(root_ / "a"), "old");
  for (const auto& entry : fs::directory_iterator(root_)) {
    EXPECT_EQ(entry.path().filename().string().find("meshbroker-tmp"), std::string::npos);
  }
}

TEST_F(FileWriterTest, RefusesPathsOutsideTheRoot) {
  EXPECT_THROW(writeFiles(root_, {{"../escape", "x", 0644}}), WriteError);
  EXPECT_THROW(writeFiles(root_, {{"/etc/escape", "x", 0644}}), WriteError);
}

TEST_F(FileWriterTest, ExclusiveNeverOverwrites) {
  writeFileAtomically(root_ / "key", "first", 0600, /*exclusive=*/true);
  EXPECT_THROW(writeFileAtomically(root_ / "key", "second", 0600, true), WriteError);
  EXPECT_EQ(meshbroker::testing::readText(root_ / "key"), "first");
  EXPECT_EQ(modeOf(root_ / "key"), 0600u);
}

}  // namespace
}  // namespace meshbroker::io
