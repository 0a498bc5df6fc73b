// Lines out of a log file that a child appends to, the file emptied past a size (no I/O here).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace meshbroker::backends {

using LineHandler = std::function<void(std::string_view line)>;

// Cuts a child's output into lines: a partial line waits for its newline, a runaway one is cut
// once kMaxLine bytes of it have arrived.
class LineSplitter {
 public:
  static constexpr std::size_t kMaxLine = 4096;
  explicit LineSplitter(LineHandler on_line) : on_line_(std::move(on_line)) {}
  void feed(std::string_view data);
  void flush();  // an ended child's last words: its unterminated line, if any
  bool midLine() const { return !partial_.empty(); }

 private:
  LineHandler on_line_;
  std::string partial_;
};

// The followed file. The real one is pread/fstat/ftruncate on a descriptor; a test's fake lets
// its writer act between those calls, as a child does.
class FollowedFile {
 public:
  virtual ~FollowedFile() = default;
  // Like pread: the number of bytes read, 0 at the end, -1 with errno set.
  virtual ssize_t readAt(off_t offset, std::span<char> into) = 0;
  virtual off_t size() = 0;     // -1 when unknown
  virtual bool truncate() = 0;  // empties it; a writer with O_APPEND goes on at offset 0
};

// Follows a file from its end at construction (emptying it first when it is past max_bytes):
// each drain() reads what was appended since and emits the complete lines. Past max_bytes the
// file is emptied again when the reader is at its end and between two lines; the writer is not
// paused, so a line it appends in that instant is lost, whole (never a part of it).
class LogFollower {
 public:
  LogFollower(std::unique_ptr<FollowedFile> file, off_t max_bytes, LineHandler on_line);
  // True when it read up to the end of the file; false after max_reads reads with more to
  // come (the caller lets its event loop run and calls again).
  bool drain(int max_reads);
  void flush() { lines_.flush(); }
  off_t offset() const { return offset_; }

 private:
  bool mayEmpty() const;

  std::unique_ptr<FollowedFile> file_;
  off_t max_bytes_;
  off_t offset_ = 0;  // where the next read starts
  LineSplitter lines_;
  std::array<char, 4096> chunk_{};
};

}  // namespace meshbroker::backends
