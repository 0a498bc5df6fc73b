#include "network/envelope.hpp"

#include <nlohmann/json.hpp>

#include "network/document.hpp"
#include "network/signing.hpp"

namespace meshbroker::network {

std::string sealDocument(const model::NetworkDocument& document, std::string_view private_pem) {
  const auto text = documentText(document);
  nlohmann::json envelope = {{"format", kEnvelopeFormat},
                             {"key", publicKeyOf(private_pem)},
                             {"signature", sign(private_pem, text)},
                             {"document", text}};
  return envelope.dump();
}

Opened openEnvelope(std::string_view envelope, std::string_view pinned_public_key) {
  auto refuse = [](std::string why) { return Opened{std::nullopt, std::move(why)}; };
  if (envelope.size() > kMaxEnvelopeBytes) return refuse("the signed document is too large");
  auto value = nlohmann::json::parse(envelope, nullptr, false);
  if (value.is_discarded() || !value.is_object()) {
    return refuse("not a signed network document (not a JSON object)");
  }
  for (const char* key : {"format", "key", "signature", "document"}) {
    auto it = value.find(key);
    if (it == value.end() || !it->is_string()) {
      return refuse(std::string("not a signed network document (no text \"") + key + "\")");
    }
  }
  const auto format = value["format"].get<std::string>();
  if (format != kEnvelopeFormat) {
    return refuse("unknown format \"" + format.substr(0, 40) + "\" (this meshbroker reads " +
                  std::string(kEnvelopeFormat) + ")");
  }
  const auto key = value["key"].get<std::string>();
  if (key != pinned_public_key) {
    std::string theirs = "a malformed key";
    if (isPublicKey(key)) theirs = fingerprintOf(key);
    std::string ours = isPublicKey(pinned_public_key) ? fingerprintOf(pinned_public_key)
                                                      : std::string("(no valid pinned key)");
    return refuse("signed by another key (" + theirs + "); this node trusts only " + ours);
  }
  const auto text = value["document"].get<std::string>();
  if (!verify(pinned_public_key, text, value["signature"].get<std::string>())) {
    return refuse("the signature does not match the document (forged or damaged)");
  }
  auto parsed = parseDocument(text);
  if (!parsed.document) return refuse("signed, but invalid: " + parsed.error);
  return {std::move(parsed.document), {}};
}

}  // namespace meshbroker::network
