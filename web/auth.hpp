// Bearer tokens for the HTTP actions: read from a 0600 file, compared in constant time.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace meshbroker::web {

// Reads and checks a token file: a regular file, no group or other permission bits, one
// token of 16..512 printable non-space characters (a trailing newline is fine). Throws
// std::runtime_error naming the file and what is wrong.
std::string loadToken(const std::filesystem::path& file);

class TokenAuth {
 public:
  enum class Result { kOk, kMissing, kMalformed, kWrong, kDisabled };

  // nullopt: no token configured, so every action is refused (kDisabled).
  void set(std::optional<std::string> token);
  bool enabled() const;
  // header: the request's Authorization value ("" when absent).
  Result check(std::string_view authorization) const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const std::string> token_;
};

}  // namespace meshbroker::web
