// libFuzzer target: arbitrary datagrams through parseTincEvent, the parser of what tinc's hook
// scripts send to the daemon's event socket (TincEventSocket hands it every datagram it gets).
// Invariants: no crash or sanitizer report; a rejected datagram has a reason on one line; an
// accepted one names a known event, and for host-*/subnet-* a node tinc would accept
// ([A-Za-z0-9_]{1,64}); its address and subnet are printable and at most 128 bytes; nothing
// over 4096 bytes is accepted; parsing is deterministic.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "backends/tinc_events.hpp"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tinc_events_fuzz: %s\n", what);
    std::abort();
  }
}

bool printable(const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return text.size() <= 128;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace backends = meshbroker::backends;
  using Kind = backends::TincEventKind;
  std::string_view datagram(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto event = backends::parseTincEvent(datagram, &why);
  auto again = backends::parseTincEvent(datagram, nullptr);
  check(event.has_value() == again.has_value(), "not deterministic");
  if (!event) {
    check(!why.empty(), "rejected without a reason");
    check(why.find('\n') == std::string::npos && why.find('\r') == std::string::npos,
          "the reason spans lines");
    return 0;
  }
  check(size <= 4096, "accepted more than 4096 bytes");
  auto name = backends::toString(event->kind);
  check(name != "unknown", "an unknown event kind");
  bool about_peer = event->kind != Kind::kTincUp && event->kind != Kind::kTincDown;
  if (about_peer) {
    check(!event->node.empty() && event->node.size() <= 64, "a peer event without a node");
    for (char c : event->node) {
      bool ok =
          (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
      check(ok, "a node name tinc would not accept");
    }
  } else {
    check(event->node.empty(), "tinc-up/down with a node");
  }
  check(printable(event->remote_address), "remote address not printable");
  check(printable(event->subnet), "subnet not printable");
  check(again->kind == event->kind && again->node == event->node &&
            again->remote_address == event->remote_address && again->subnet == event->subnet,
        "not deterministic");
  return 0;
}
