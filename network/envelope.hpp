// A signed network document as it travels and rests on disk:
//   {"format":"meshbroker-network/1","key":"ed25519:...","signature":"<base64>","document":"<text>"}
// The signature covers exactly the bytes of "document" (a JSON text inside a string), so no
// canonical form is needed to verify: a node checks the bytes it got, then parses them.
// openEnvelope checks in that order (size, shape, pinned key, signature, then the document) and
// never parses a document whose signature it has not verified. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "model/network_document.hpp"
#include "network/document.hpp"

namespace meshbroker::network {

inline constexpr std::string_view kEnvelopeFormat = "meshbroker-network/1";
// The document travels escaped inside a string: room for that on top of its own cap.
inline constexpr std::size_t kMaxEnvelopeBytes = 2 * kMaxDocumentBytes;

// The envelope text of `document` signed with the registry's private key (PEM).
std::string sealDocument(const model::NetworkDocument& document, std::string_view private_pem);

struct Opened {
  std::optional<model::NetworkDocument> document;
  std::string error;  // why it was refused, for the log: names the key, the field, the reason
};

// Verifies `envelope` against the pinned public key ("ed25519:...") and parses the document.
Opened openEnvelope(std::string_view envelope, std::string_view pinned_public_key);

}  // namespace meshbroker::network
