#include "network/pem.hpp"

#include <sodium.h>

#include "network/signing.hpp"

namespace meshbroker::network {
namespace {

std::string beginLine(std::string_view label) {
  return "-----BEGIN " + std::string(label) + "-----";
}
std::string endLine(std::string_view label) { return "-----END " + std::string(label) + "-----"; }

void wipe(std::string& text) { sodium_memzero(text.data(), text.size()); }

// Where the block of `label` is in text: its BEGIN line's start, the body after that line, and
// its END line's start; status kNoBlock or kNoEnd when it is not all there.
struct Located {
  PemDecoded::Status status = PemDecoded::Status::kNoBlock;
  std::size_t from = 0, body = 0, end = 0;
};

Located locate(std::string_view text, std::string_view label) {
  Located at;
  const std::string begin = beginLine(label);
  at.from = text.find(begin);
  if (at.from == std::string_view::npos) return at;
  at.body = at.from + begin.size();
  at.end = text.find(endLine(label), at.from);
  at.status =
      at.end == std::string_view::npos ? PemDecoded::Status::kNoEnd : PemDecoded::Status::kFound;
  return at;
}

}  // namespace

std::string_view pemBlock(std::string_view text, std::string_view label) {
  const auto at = locate(text, label);
  if (at.status != PemDecoded::Status::kFound) return {};
  auto to = at.end + endLine(label).size();
  if (to < text.size() && text[to] == '\n') ++to;
  return text.substr(at.from, to - at.from);
}

PemDecoded pemDecode(std::string_view text, std::string_view label) {
  PemDecoded result;
  const auto at = locate(text, label);
  result.status = at.status;
  if (at.status != PemDecoded::Status::kFound) return result;
  std::string base64;
  for (char c : text.substr(at.body, at.end - at.body)) {
    if (c != '\n' && c != '\r') base64.push_back(c);
  }
  if (!decodeBase64(base64, result.der)) result.status = PemDecoded::Status::kBadBase64;
  wipe(base64);
  return result;
}

std::string pemEncode(std::string_view label, std::string_view der) {
  std::string base64 = encodeBase64(der);
  std::string pem = beginLine(label) + "\n";
  for (std::size_t at = 0; at < base64.size(); at += 64) {
    pem.append(base64, at, 64);
    pem += '\n';
  }
  wipe(base64);
  return pem + endLine(label) + "\n";
}

}  // namespace meshbroker::network
