// LineSplitter and LogFollower: lines from a child's output, its log file kept small.
#include "backends/log_follower.hpp"

#include <algorithm>
#include <cerrno>

namespace meshbroker::backends {

void LineSplitter::feed(std::string_view data) {
  while (!data.empty()) {
    auto newline = data.find('\n');
    if (newline == std::string_view::npos) {
      partial_.append(data);
      break;
    }
    partial_.append(data.substr(0, newline));
    if (on_line_) on_line_(partial_);
    partial_.clear();
    data.remove_prefix(newline + 1);
  }
  if (partial_.size() >= kMaxLine) flush();
}

void LineSplitter::flush() {
  if (!partial_.empty() && on_line_) on_line_(partial_);
  partial_.clear();
}

LogFollower::LogFollower(std::unique_ptr<FollowedFile> file, off_t max_bytes, LineHandler on_line)
    : file_(std::move(file)), max_bytes_(max_bytes), lines_(std::move(on_line)) {
  offset_ = std::max<off_t>(file_->size(), 0);
  if (offset_ > max_bytes_ && file_->truncate()) offset_ = 0;
}

bool LogFollower::drain(int max_reads) {
  if (off_t size = file_->size(); size >= 0 && size < offset_) {
    offset_ = 0;  // someone else emptied it
  }
  for (int i = 0; i < max_reads; ++i) {
    ssize_t n = file_->readAt(offset_, chunk_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return true;
    if (n == 0) {
      if (mayEmpty() && file_->truncate()) offset_ = 0;
      return true;
    }
    offset_ += n;
    lines_.feed(std::string_view(chunk_.data(), static_cast<std::size_t>(n)));
  }
  return false;
}

// Not in the middle of a line: the kernel shows a write that crosses a page boundary page by
// page, so a partial line at the end may be the first part of a write still under way. The
// truncation waits for that write and then erases its rest, and the part already read would
// run into the next line (seen: "line 13868 xxxline 13869 xxx", the first part ending at byte
// 258 * 4096). Its rest comes with the next drain; then the file is emptied. Past twice max_bytes
// it is emptied all the same, so a child that never ends a line cannot fill the disk.
bool LogFollower::mayEmpty() const {
  return offset_ > max_bytes_ && (!lines_.midLine() || offset_ > 2 * max_bytes_);
}

}  // namespace meshbroker::backends
