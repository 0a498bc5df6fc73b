// libFuzzer target: the OpenVPN management client's line handling (takeManagementLine and
// ManagementReplies, exactly what OpenVpnManagement runs on every byte it reads), with the
// status parser on every multiline reply as OpenVpnManagement::status() does.
// Input: a first line of commands to send ('m' multiline, like "status 3"; anything else a
// one-line command like "kill NAME"), then the bytes the management socket delivers. A command
// is sent whenever the interface is ready and nothing is in flight.
// Invariants: no crash or sanitizer report; ready only after an ">INFO:" line, and once; a
// '>' notification never becomes part of a reply; replies complete one per sent command, in
// order, only while one is in flight; a one-line reply is that line, ok exactly when it is
// SUCCESS:; a multiline reply never holds END and fails only on a first ERROR: line; no line
// holds '\n'; parsed clients hold no control characters; messages stay on
// one line.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "backends/openvpn_management.hpp"

namespace {

using meshbroker::backends::ManagementReplies;
using Kind = ManagementReplies::Outcome::Kind;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "openvpn_management_fuzz: %s\n", what);
    std::abort();
  }
}

bool controlFree(const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace backends = meshbroker::backends;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto newline = input.find('\n');
  std::string_view script = input.substr(0, newline == std::string_view::npos ? 0 : newline);
  if (script.size() > 64) script = script.substr(0, 64);
  std::string stream(newline == std::string_view::npos ? input : input.substr(newline + 1));

  ManagementReplies replies;
  std::size_t next_command = 0;
  bool in_flight_multiline = false;
  int ready_count = 0;
  auto send = [&] {
    if (replies.ready() && !replies.waiting() && next_command < script.size()) {
      in_flight_multiline = script[next_command++] == 'm';
      replies.sent(in_flight_multiline);
    }
  };
  // The socket may deliver the stream in any chunks; framing does not depend on them, so the
  // whole stream is the buffer and takeManagementLine takes lines off its front.
  while (auto line = backends::takeManagementLine(stream)) {
    check(line->find('\n') == std::string::npos, "a line holds a newline");
    const bool was_waiting = replies.waiting();
    const bool was_ready = replies.ready();
    auto outcome = replies.feed(*line);
    if (line->starts_with(">")) {
      check(outcome.kind == Kind::kNotification || outcome.kind == Kind::kReady,
            "a notification was taken as a reply line");
      check(replies.waiting() == was_waiting, "a notification changed the command in flight");
    }
    switch (outcome.kind) {
      case Kind::kReady:
        check(!was_ready && line->starts_with(">INFO:"), "ready without an >INFO: banner");
        check(++ready_count == 1, "ready twice");
        send();
        break;
      case Kind::kNotification:
        check(line->starts_with(">"), "a reply line was taken as a notification");
        break;
      case Kind::kUnexpected:
        check(!was_waiting, "a line of a reply in flight was called unexpected");
        check(controlFree(backends::escapeForMessage(*line)), "a logged line is not escaped");
        break;
      case Kind::kPartial:
        check(was_waiting && in_flight_multiline && replies.waiting(), "a stray partial reply");
        check(*line != "END", "END did not end the reply");
        break;
      case Kind::kOverflow:
        check(was_waiting && in_flight_multiline && !replies.waiting(), "a stray overflow");
        break;
      case Kind::kReply: {
        check(was_waiting && !replies.waiting(), "a reply without a command in flight");
        for (const auto& reply_line : outcome.lines) {
          check(reply_line.find('\n') == std::string::npos, "a reply line holds a newline");
          check(!reply_line.starts_with(">"), "a notification is part of a reply");
        }
        if (!in_flight_multiline) {
          check(outcome.lines.size() == 1 && outcome.lines[0] == *line, "not a one-line reply");
          std::string message;
          auto parsed = backends::parseCommandReply(*line, &message);
          check(outcome.ok == parsed.value_or(false), "ok is not SUCCESS:");
          check(controlFree(message), "a reply message is not escaped");
        } else {
          // It ends at END (ok) or at an ERROR: first line (the whole reply).
          check(outcome.ok == (*line == "END"), "a multiline reply ended by something else");
          check(outcome.ok || (outcome.lines.size() == 1 && outcome.lines[0] == *line &&
                               line->starts_with("ERROR:")),
                "a multiline reply failed without a first ERROR:");
          for (const auto& reply_line : outcome.lines) {
            check(reply_line != "END", "END is part of the reply");
          }
          // What OpenVpnManagement::status() does with the reply.
          backends::StatusParser parser;
          for (const auto& reply_line : outcome.lines) parser.feed(reply_line);
          if (outcome.ok) parser.feed("END");
          for (const auto& client : parser.report().clients) {
            check(controlFree(client.common_name) && controlFree(client.real_address) &&
                      controlFree(client.virtual_address),
                  "a client field holds a control character");
          }
          for (const auto& problem : parser.report().problems) {
            check(problem.str().find('\n') == std::string::npos, "a problem spans lines");
          }
        }
        send();
        break;
      }
    }
  }
  return 0;
}
