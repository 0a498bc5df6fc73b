// Management-interface output parsing: tab-separated records, checked field by field.
#include "backends/openvpn_status.hpp"

#include <charconv>

namespace meshbroker::backends {
namespace {

constexpr std::size_t kMaxLine = 4096;
constexpr std::size_t kMaxClients = 65536;

// The 2.6 column order, used when no HEADER line came first.
const std::vector<std::string> kDefaultColumns = {
    "Common Name",    "Real Address", "Virtual Address", "Virtual IPv6 Address",
    "Bytes Received", "Bytes Sent",   "Connected Since", "Connected Since (time_t)",
    "Username",       "Client ID",    "Peer ID",         "Data Channel Cipher"};

std::vector<std::string_view> splitTabs(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto tab = line.find('\t', start);
    out.push_back(line.substr(start, tab == std::string_view::npos ? tab : tab - start));
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  return out;
}

template <class T>
std::optional<T> number(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if constexpr (std::is_signed_v<T>) {
    if (value < 0) return std::nullopt;
  }
  return value;
}

bool ipv4(std::string_view text) {
  int parts = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto dot = text.find('.', start);
    auto part = text.substr(start, dot == std::string_view::npos ? dot : dot - start);
    auto value = number<unsigned>(part);
    if (!value || *value > 255 || part.size() > 3 || (part.size() > 1 && part[0] == '0')) {
      return false;
    }
    ++parts;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts == 4;
}

// "host:port" with an IPv4 host, or "[v6]:port"; OpenVPN 2.6 writes udp4:/tcp4-server: prefixes
// in some versions, which we accept and keep.
bool realAddress(std::string_view text) {
  for (std::string_view prefix :
       {"udp4:", "udp6:", "tcp4-server:", "tcp6-server:", "udp:", "tcp:", "tcp-server:"}) {
    if (text.starts_with(prefix)) {
      text.remove_prefix(prefix.size());
      break;
    }
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  auto port = number<unsigned>(text.substr(colon + 1));
  if (!port || *port > 65535) return false;
  auto host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    for (char c : host.substr(1, host.size() - 2)) {
      bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                c == ':' || c == '.';
      if (!ok) return false;
    }
    return true;
  }
  return ipv4(host);
}

}  // namespace

std::string escapeForMessage(std::string_view text, std::size_t max) {
  std::string out;
  static const char* kHex = "0123456789abcdef";
  for (unsigned char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else {
        out += "\\x";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
      }
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string StatusProblem::str() const {
  return "line " + std::to_string(line) + ": \"" + text + "\": " + why;
}

void StatusParser::problem(std::string_view line, std::string why) {
  // A flood of garbage must not grow without bound either.
  if (report_.problems.size() >= 1000) return;
  report_.problems.push_back({line_number_, escapeForMessage(line), std::move(why)});
}

void StatusParser::feed(std::string_view line) {
  ++line_number_;
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (report_.complete) {
    problem(line, "comes after END");
    return;
  }
  if (line.size() > kMaxLine) {
    problem(line, "is longer than " + std::to_string(kMaxLine) + " bytes");
    return;
  }
  if (line.empty()) return;
  if (line.front() == '>') return;  // a real-time notification between reply lines
  if (line == "END") {
    report_.complete = true;
    return;
  }
  if (line.starts_with("ERROR:")) {
    problem(line, "OpenVPN answered with an error");
    return;
  }
  if (line.starts_with("SUCCESS:")) return;
  // Tabs separate fields; any other control byte means the line is not OpenVPN's.
  for (unsigned char c : line) {
    if (c != '\t' && (c < 0x20 || c == 0x7f)) {
      problem(line, "holds a control character");
      return;
    }
  }
  auto fields = splitTabs(line);
  std::string_view type = fields[0];
  if (type == "HEADER") {
    if (fields.size() >= 2 && fields[1] == "CLIENT_LIST") {
      columns_.clear();
      for (std::size_t i = 2; i < fields.size(); ++i) columns_.emplace_back(fields[i]);
      if (columns_.empty()) problem(line, "is a CLIENT_LIST header without columns");
    }
    return;
  }
  if (type == "CLIENT_LIST") {
    clientList(fields, line);
    return;
  }
  if (type == "TITLE" || type == "TIME" || type == "ROUTING_TABLE" || type == "GLOBAL_STATS") {
    return;
  }
  problem(line,
          "is not a status 3 record (expected TITLE, TIME, HEADER, CLIENT_LIST, "
          "ROUTING_TABLE, GLOBAL_STATS or END)");
}

void StatusParser::clientList(const std::vector<std::string_view>& fields, std::string_view line) {
  const auto& columns = columns_.empty() ? kDefaultColumns : columns_;
  auto field = [&](std::string_view column) -> std::optional<std::string_view> {
    for (std::size_t i = 0; i < columns.size(); ++i) {
      if (columns[i] == column) {
        if (i + 1 < fields.size()) return fields[i + 1];
        return std::nullopt;
      }
    }
    return std::nullopt;
  };
  if (fields.size() < 7) {
    problem(line, "is a CLIENT_LIST record with " + std::to_string(fields.size() - 1) +
                      " fields (expected at least 6)");
    return;
  }
  if (report_.clients.size() >= kMaxClients) {
    problem(line, "is one client too many");
    return;
  }
  ConnectedClient client;
  auto name = field("Common Name");
  auto real = field("Real Address");
  auto virt = field("Virtual Address");
  auto received = field("Bytes Received");
  auto sent = field("Bytes Sent");
  auto since = field("Connected Since (time_t)");
  auto id = field("Client ID");
  if (!name || name->empty() || name->size() > 256) {
    problem(line, "has no common name");
    return;
  }
  if (!real || !realAddress(*real)) {
    problem(line, "has a bad real address \"" + escapeForMessage(real.value_or("")) + "\"");
    return;
  }
  if (!virt || (!virt->empty() && !ipv4(*virt))) {
    problem(line, "has a bad virtual address \"" + escapeForMessage(virt.value_or("")) + "\"");
    return;
  }
  auto rx = received ? number<std::uint64_t>(*received) : std::nullopt;
  auto tx = sent ? number<std::uint64_t>(*sent) : std::nullopt;
  if (!rx || !tx) {
    problem(line, "has a byte count that is not a number");
    return;
  }
  client.common_name = std::string(*name);
  client.real_address = std::string(*real);
  client.virtual_address = std::string(*virt);
  client.bytes_received = *rx;
  client.bytes_sent = *tx;
  if (since) {
    auto value = number<std::int64_t>(*since);
    if (!value) {
      problem(line, "has a connection time that is not a number");
      return;
    }
    client.connected_since = *value;
  }
  if (id && !id->empty() && *id != "UNDEF") {
    auto value = number<std::uint64_t>(*id);
    if (!value) {
      problem(line, "has a client ID that is not a number");
      return;
    }
    client.client_id = *value;
  }
  report_.clients.push_back(std::move(client));
}

StatusReport parseStatus(std::string_view text) {
  StatusParser parser;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    parser.feed(text.substr(start, end - start));
    start = end + 1;
  }
  return parser.report();
}

std::optional<bool> parseCommandReply(std::string_view line, std::string* message) {
  if (line.ends_with('\r')) line.remove_suffix(1);
  auto take = [&](std::size_t n) {
    if (!message) return;
    auto rest = line.substr(n);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    *message = escapeForMessage(rest, 400);
  };
  if (line.starts_with("SUCCESS:")) {
    take(8);
    return true;
  }
  if (line.starts_with("ERROR:")) {
    take(6);
    return false;
  }
  return std::nullopt;
}

}  // namespace meshbroker::backends
