// Token file checks and the constant-time comparison (libsodium's sodium_memcmp over SHA-256
// digests, so neither the content nor the length of the token leaks through timing).
#include "web/auth.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace meshbroker::web {
namespace {

std::array<unsigned char, crypto_hash_sha256_BYTES> digest(std::string_view text) {
  std::array<unsigned char, crypto_hash_sha256_BYTES> out{};
  crypto_hash_sha256(out.data(), reinterpret_cast<const unsigned char*>(text.data()), text.size());
  return out;
}

}  // namespace

std::string loadToken(const std::filesystem::path& file) {
  const std::string name = file.string();
  struct stat info {};
  if (::stat(name.c_str(), &info) != 0) {
    throw std::runtime_error("status.token_file " + name + ": cannot read it (" +
                             std::strerror(errno) + ")");
  }
  if (!S_ISREG(info.st_mode)) {
    throw std::runtime_error("status.token_file " + name + ": not a regular file");
  }
  if ((info.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    throw std::runtime_error("status.token_file " + name + ": mode " + mode +
                             " lets others read it; make it 0600 (chmod 600 " + name + ")");
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  if (!in && !in.eof()) throw std::runtime_error("status.token_file " + name + ": cannot read it");
  std::string token = content.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.size() < 16 || token.size() > 512) {
    throw std::runtime_error("status.token_file " + name + ": the token must be 16..512 " +
                             "characters (it has " + std::to_string(token.size()) +
                             "); e.g. openssl rand -hex 32 > " + name);
  }
  for (char c : token) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      throw std::runtime_error("status.token_file " + name +
                               ": the token may only hold printable characters, no spaces");
    }
  }
  return token;
}

void TokenAuth::set(std::optional<std::string> token) {
  std::lock_guard lock(mutex_);
  token_ = token ? std::make_shared<const std::string>(std::move(*token)) : nullptr;
}

bool TokenAuth::enabled() const {
  std::lock_guard lock(mutex_);
  return token_ != nullptr;
}

TokenAuth::Result TokenAuth::check(std::string_view authorization) const {
  std::shared_ptr<const std::string> token;
  {
    std::lock_guard lock(mutex_);
    token = token_;
  }
  if (authorization.empty()) return Result::kMissing;
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size() ||
      authorization.substr(0, kScheme.size()) != kScheme) {
    return Result::kMalformed;
  }
  if (!token) return Result::kDisabled;
  const auto given = digest(authorization.substr(kScheme.size()));
  const auto expected = digest(*token);
  return sodium_memcmp(given.data(), expected.data(), given.size()) == 0 ? Result::kOk
                                                                         : Result::kWrong;
}

}  // namespace meshbroker::web
