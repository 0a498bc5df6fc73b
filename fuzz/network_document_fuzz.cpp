// libFuzzer target: arbitrary bytes as a signed network document (issue 20), as a bare
// document and as a nudge datagram. Invariants: no crash, no sanitizer report; what parses
// holds no control character outside a PEM's line breaks and survives its own canonical text
// unchanged; an envelope opens only when it verifies against the pinned key (the corpus holds
// one signed by it); a nudge that parses is at most 128 bytes and is its own text again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "network/document.hpp"
#include "network/envelope.hpp"
#include "network/nudge.hpp"

namespace {

// The key the corpus's signed envelope was made with (its private half was thrown away).
constexpr std::string_view kPinned = "ed25519:pf18llMJZ4M8652d7vXcUgJq4evMj5SP19f+Y5Q/+Hc=";

void checkText(const std::string& text, bool lines) {
  for (unsigned char c : text) {
    if ((c < 0x20 && !(lines && c == '\n')) || c == 0x7f) std::abort();
  }
}

void check(const meshbroker::model::NetworkDocument& d) {
  checkText(d.network, false);
  for (const auto& n : d.nodes) {
    checkText(n.name, false);
    checkText(n.role, false);
    checkText(n.mesh_address, false);
    if (n.public_address) checkText(*n.public_address, false);
    checkText(n.tinc_public_key, true);
    for (const auto& o : n.openvpn) {
      checkText(o.name, false);
      checkText(o.proto, false);
    }
    for (const auto& s : n.client_subnets) checkText(s, false);
  }
  for (const auto& name : d.removed) checkText(name, false);
  for (const auto& [instance, pem] : d.crls) {
    checkText(instance, false);
    checkText(pem, true);
  }
  auto again = meshbroker::network::parseDocument(meshbroker::network::documentText(d));
  if (!again.document || !(*again.document == d)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto opened = meshbroker::network::openEnvelope(text, kPinned);
  if (opened.document) check(*opened.document);
  if (!opened.document && opened.error.empty()) std::abort();
  auto parsed = meshbroker::network::parseDocument(text);
  if (parsed.document) check(*parsed.document);
  if (!parsed.document && parsed.error.empty()) std::abort();
  if (auto nudge = meshbroker::network::parseNudge(text)) {
    checkText(nudge->network, false);
    if (size > meshbroker::network::kMaxNudgeBytes || nudge->version == 0) std::abort();
    auto again = meshbroker::network::parseNudge(meshbroker::network::nudgeText(*nudge));
    if (!again || !(*again == *nudge)) std::abort();
  }
  return 0;
}
