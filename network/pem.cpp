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

}  // namespace

std::string_view pemBlock(std::string_view text, std::string_view label) {
  const auto from = text.find(beginLine(label));
  if (from == std::string_view::npos) return {};
  const std::string end = endLine(label);
  auto to = text.find(end, from);
  if (to == std::string_view::npos) return {};
  to += end.size();
  if (to < text.size() && text[to] == '\n') ++to;
  return text.substr(from, to - from);
}

PemDecoded pemDecode(std::string_view text, std::string_view label) {
  PemDecoded result;
  const std::string begin = beginLine(label);
  const auto from = text.find(begin);
  if (from == std::string_view::npos) return result;
  const auto to = text.find(endLine(label), from);
  if (to == std::string_view::npos) {
    result.status = PemDecoded::Status::kNoEnd;
    return result;
  }
  std::string base64;
  for (char c : text.substr(from + begin.size(), to - from - begin.size())) {
    if (c != '\n' && c != '\r') base64.push_back(c);
  }
  if (decodeBase64(base64, result.der)) {
    result.status = PemDecoded::Status::kFound;
  } else {
    result.status = PemDecoded::Status::kBadBase64;
  }
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
