// PEM text (RFC 7468): the block of one label found and decoded, and DER written as a block.
// The one PEM reader and writer for the registry's Ed25519 key (signing.*) and tinc's RSA keys
// (backends/tinc_keys.*).
#pragma once

#include <string>
#include <string_view>

namespace meshbroker::network {

// The block of `label` in text: from "-----BEGIN label-----" to the end of its END line (its
// newline included when there is one). Empty when text has no BEGIN line for label, or no
// END line after it (pemDecode says which).
std::string_view pemBlock(std::string_view text, std::string_view label);

struct PemDecoded {
  enum class Status { kFound, kNoBlock, kNoEnd, kBadBase64 };
  Status status = Status::kNoBlock;
  std::string der;  // kFound only
};
// The DER in the block of `label`: strict, canonical base64 between the lines (line breaks
// ignored). Copies of the text it makes are wiped (a private key passes through here).
PemDecoded pemDecode(std::string_view text, std::string_view label);

// DER as a PEM block: the BEGIN line, base64 in lines of 64, the END line, each ending "\n".
std::string pemEncode(std::string_view label, std::string_view der);

}  // namespace meshbroker::network
