// UniqueFd: the one owner of a raw file descriptor; closes it when it goes, unless released.
#pragma once

#include <unistd.h>

#include <utility>

namespace meshbroker::io {

// Move-only. Holds -1 when empty. Errors from close() are ignored, as every hand-written close
// it replaced did (the descriptor is gone either way on Linux). To hand a descriptor to an
// owner that closes it itself (a Boost.Asio object), release() it; to pass it to a child, keep
// the UniqueFd alive until the fork is done.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd < 0 ? -1 : fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership: the caller closes what this returns (-1 when empty).
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the descriptor held (if any) and takes fd (a negative one leaves this empty).
  void reset(int fd = -1) noexcept {
    int old = std::exchange(fd_, fd < 0 ? -1 : fd);
    if (old >= 0 && old != fd_) ::close(old);
  }

 private:
  int fd_ = -1;
};

}  // namespace meshbroker::io
