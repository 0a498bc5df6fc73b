// libFuzzer target: arbitrary bytes through the OpenVPN management-output parser.
// Invariants: no crash, no sanitizer report, every problem prints on one line, and a parsed
// client holds no control character in any field.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "backends/openvpn_status.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto report = meshbroker::backends::parseStatus(text);
  for (const auto& problem : report.problems) {
    if (problem.str().find('\n') != std::string::npos) std::abort();
  }
  for (const auto& client : report.clients) {
    for (const std::string* field :
         {&client.common_name, &client.real_address, &client.virtual_address}) {
      for (unsigned char c : *field) {
        if (c < 0x20 || c == 0x7f) std::abort();
      }
    }
  }
  std::string message;
  meshbroker::backends::parseCommandReply(text, &message);
  if (message.find('\n') != std::string::npos) std::abort();
  return 0;
}
