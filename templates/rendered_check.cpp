// The line grammars of rendered tinc, hook-script and OpenVPN files. Plain string work (no
// regex): it runs for every input the fuzzer renders.
#include "templates/rendered_check.hpp"

#include <map>
#include <set>
#include <vector>

#include "config/types.hpp"

namespace meshbroker::templates {
namespace {

using Tokens = std::vector<std::string_view>;

// Tokens separated by one space each: a leading, trailing or doubled space is not a token
// list (it would be a value holding a space).
std::optional<Tokens> tokens(std::string_view line) {
  Tokens out;
  std::size_t start = 0;
  while (true) {
    auto end = line.find(' ', start);
    auto token = line.substr(start, end == std::string_view::npos ? end : end - start);
    if (token.empty()) return std::nullopt;
    out.push_back(token);
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

// A value that cannot split into two arguments, start a comment or reach a shell.
bool safeToken(std::string_view token) {
  if (token.empty() || token.front() == '#' || token.front() == ';') return false;
  for (char c : token) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-' || c == '+' || c == '/' || c == '@' || c == ',' ||
              c == ':';
    if (!ok) return false;
  }
  return true;
}

bool number(std::string_view token) {
  return !token.empty() && token.size() <= 10 &&
         token.find_first_not_of("0123456789") == std::string_view::npos;
}

bool ipv4(std::string_view token) { return config::Ipv4Address::parse(token, nullptr).has_value(); }
bool prefix6(std::string_view token) { return config::Cidr6::parse(token, nullptr).has_value(); }

bool base64(std::string_view line) {
  return !line.empty() &&
         line.find_first_not_of(
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") ==
             std::string_view::npos;
}

// A shell word in single quotes as shellQuote writes it: ('...' | \')+ with nothing else.
bool singleQuotedWord(std::string_view word) {
  if (word.empty()) return false;
  std::size_t i = 0;
  while (i < word.size()) {
    if (word[i] == '\'') {
      auto close = word.find('\'', i + 1);
      if (close == std::string_view::npos) return false;
      i = close + 1;
    } else if (word.substr(i, 2) == "\\'") {
      i += 2;
    } else {
      return false;
    }
  }
  return true;
}

std::string lineError(std::size_t number_, std::string_view why) {
  return "line " + std::to_string(number_) + ": " + std::string(why);
}

// How often each directive appeared, to enforce "exactly once" and "at most once".
class Counts {
 public:
  void add(std::string_view key) { ++counts_[std::string(key)]; }
  int operator[](const std::string& key) const {
    auto it = counts_.find(key);
    return it == counts_.end() ? 0 : it->second;
  }

 private:
  std::map<std::string, int> counts_;
};

// Returns why the line is wrong (empty when it is fine).
using LineRule = std::string (*)(std::string_view line, const Tokens& t, Counts& counts);

std::string tincConfLine(std::string_view, const Tokens& t, Counts& counts) {
  static const std::set<std::string_view> kKeys = {
      "Name",         "AddressFamily", "Mode",       "Interface", "Device",       "PrivateKeyFile",
      "PingInterval", "PingTimeout",   "MaxTimeout", "ConnectTo", "StrictSubnets"};
  if (t.size() != 3 || t[1] != "=" || !kKeys.count(t[0])) return "is not a tinc.conf directive";
  if (!safeToken(t[2])) return "has an unsafe value";
  if (t[0] != "ConnectTo") {
    counts.add(t[0]);
    if (counts[std::string(t[0])] > 1) return "repeats " + std::string(t[0]);
  }
  if (t[0] == "AddressFamily" && t[2] != "ipv4") return "is not AddressFamily = ipv4";
  if (t[0] == "Device" && t[2] != "/dev/net/tun") return "is not Device = /dev/net/tun";
  if (t[0] == "StrictSubnets" && t[2] != "yes") return "is not StrictSubnets = yes";
  if ((t[0] == "PingInterval" || t[0] == "PingTimeout" || t[0] == "MaxTimeout") && !number(t[2])) {
    return "is not a number";
  }
  return "";
}

std::string tincHostLine(std::string_view, const Tokens& t, Counts& counts) {
  static const std::set<std::string_view> kKeys = {"Address", "Port",   "Compression", "Cipher",
                                                   "Digest",  "Subnet", "MACLength"};
  if (t.size() < 3 || t[1] != "=" || !kKeys.count(t[0])) return "is not a tinc host directive";
  const std::size_t values = t.size() - 2;
  if (values != (t[0] == "Address" ? 2u : 1u)) return "has the wrong number of values";
  for (std::size_t i = 2; i < t.size(); ++i) {
    if (!safeToken(t[i])) return "has an unsafe value";
  }
  if (t[0] != "Subnet") {
    counts.add(t[0]);
    if (counts[std::string(t[0])] > 1) return "repeats " + std::string(t[0]);
  }
  if ((t[0] == "Port" || t[0] == "Compression" || t[0] == "MACLength") && !number(t[2])) {
    return "is not a number";
  }
  if (t[0] == "Address" && !number(t[3])) return "has a port that is not a number";
  return "";
}

std::string tincScriptLine(std::string_view line, const Tokens& t, Counts& counts) {
  if (line == "set -e") return "";
  if (t.size() >= 2 && t[0] == "ip") {
    // Every argument is a literal, a validated address or "$INTERFACE" (tincd's variable,
    // in double quotes); "|| true" may end the command.
    std::size_t end = t.size();
    if (end >= 3 && t[end - 2] == "||" && t[end - 1] == "true") end -= 2;
    for (std::size_t i = 1; i < end; ++i) {
      if (t[i] != "\"$INTERFACE\"" && !safeToken(t[i])) return "has an unsafe ip argument";
    }
    return "";
  }
  // QUOTED notify --runtime-dir QUOTED EVENT || true
  static const std::set<std::string_view> kEvents = {"tinc-up", "tinc-down", "host-up",
                                                     "host-down"};
  if (!line.starts_with("'")) return "is not a command this script runs";
  // The quoted words may hold spaces: find the fixed parts from the end and in the middle.
  constexpr std::string_view kNotify = " notify --runtime-dir ";
  constexpr std::string_view kTail = " || true";
  if (!line.ends_with(kTail)) return "does not end in || true";
  auto body = line.substr(0, line.size() - kTail.size());
  auto last_space = body.rfind(' ');
  if (last_space == std::string_view::npos || !kEvents.count(body.substr(last_space + 1))) {
    return "notifies no known event";
  }
  body = body.substr(0, last_space);
  auto notify = body.find(kNotify);
  if (notify == std::string_view::npos) return "is not a notify command";
  if (!singleQuotedWord(body.substr(0, notify)) ||
      !singleQuotedWord(body.substr(notify + kNotify.size()))) {
    return "has a notify argument that is not one quoted word";
  }
  counts.add("notify");
  if (counts["notify"] > 1) return "notifies twice";
  return "";
}

std::string openVpnServerLine(std::string_view line, const Tokens& t, Counts& counts) {
  // Lines that never carry a value: exactly these words.
  static const std::set<std::string_view> kFixed = {
      "mode server",
      "tls-server",
      "dev-type tun",
      "topology subnet",
      "explicit-exit-notify 2",
      "tcp-nodelay",
      "dh none",
      "tls-version-min 1.2",
      "reneg-sec 900",
      "remote-cert-tls client",
      "data-ciphers AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305",
      "duplicate-cn",
      "status-version 3",
      "script-security 1",
      "persist-key",
      "persist-tun",
      "verb 3"};
  const std::string directive(t[0]);
  if (directive != "push") {
    counts.add(directive);
    if (counts[directive] > 1) return "repeats " + directive;
  }
  if (kFixed.count(line)) return "";
  if (directive == "push") {
    // push "route-ipv6 PREFIX"
    if (t.size() == 3 && t[1] == "\"route-ipv6") {
      return t[2].ends_with('"') && prefix6(t[2].substr(0, t[2].size() - 1))
                 ? ""
                 : "is not push \"route-ipv6 PREFIX\"";
    }
    // push "route NETWORK NETMASK"
    if (t.size() != 4 || t[1] != "\"route" || !ipv4(t[2]) || !t[3].ends_with('"') ||
        !ipv4(t[3].substr(0, t[3].size() - 1))) {
      return "is not push \"route NETWORK NETMASK\"";
    }
    return "";
  }
  for (std::size_t i = 1; i < t.size(); ++i) {
    if (!safeToken(t[i])) return "has an unsafe value";
  }
  if (directive == "proto") {
    return t.size() == 2 && (t[1] == "udp" || t[1] == "tcp-server") ? "" : "is not proto udp|tcp";
  }
  if (directive == "port" || directive == "max-clients") {
    return t.size() == 2 && number(t[1]) ? "" : "is not " + directive + " NUMBER";
  }
  if (directive == "keepalive") {
    return t.size() == 3 && number(t[1]) && number(t[2]) ? "" : "is not keepalive PING RESTART";
  }
  if (directive == "dev" || directive == "ca" || directive == "cert" || directive == "key" ||
      directive == "crl-verify" || directive == "tls-crypt" || directive == "client-config-dir") {
    return t.size() == 2 ? "" : "is not " + directive + " VALUE";
  }
  if (directive == "server") {
    return t.size() == 3 && ipv4(t[1]) && ipv4(t[2]) ? "" : "is not server NETWORK NETMASK";
  }
  if (directive == "server-ipv6") {
    return t.size() == 2 && prefix6(t[1]) ? "" : "is not server-ipv6 PREFIX";
  }
  if (directive == "user" || directive == "group") {
    return t.size() == 2 && t[1] != "root" ? "" : "is not " + directive + " NAME (not root)";
  }
  if (directive == "management") {
    return t.size() == 3 && t[2] == "unix" ? "" : "is not management SOCKET unix";
  }
  if (directive == "status") {
    return t.size() == 3 && t[2] == "5" ? "" : "is not status FILE 5";
  }
  return "is not a directive of meshbroker's OpenVPN server config";
}

std::string openVpnClientLine(std::string_view line, const Tokens& t, Counts& counts) {
  static const std::set<std::string_view> kFixed = {
      "client",
      "dev tun",
      "nobind",
      "remote-random",
      "server-poll-timeout 2",
      "connect-retry 0 5",
      "resolv-retry infinite",
      "persist-key",
      "remote-cert-tls server",
      "data-ciphers AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305",
      "verb 3"};
  const std::string directive(t[0]);
  if (directive != "remote") {
    counts.add(directive);
    if (counts[directive] > 1) return "repeats " + directive;
  }
  if (kFixed.count(line)) return "";
  if (directive == "remote") {
    if (t.size() != 4 || !safeToken(t[1]) || !number(t[2]) || (t[3] != "udp" && t[3] != "tcp")) {
      return "is not remote HOST PORT udp|tcp";
    }
    return "";
  }
  return "is not a directive of a meshbroker client profile";
}

}  // namespace

std::optional<RenderedKind> renderedKindOf(const std::filesystem::path& path) {
  if (path.is_absolute() || path.lexically_normal() != path) return std::nullopt;
  std::vector<std::string> parts;
  for (const auto& part : path) parts.push_back(part.string());
  for (const auto& part : parts) {
    if (part.empty() || part == "." || part == "..") return std::nullopt;
  }
  auto name = [](const std::string& text) {
    return config::NodeName::parse(text, nullptr).has_value();
  };
  if (parts.size() == 2 && parts[0] == "tinc") {
    if (parts[1] == "tinc.conf") return RenderedKind::kTincConf;
    static const std::set<std::string> kScripts = {"tinc-up", "tinc-down", "host-up", "host-down"};
    if (kScripts.count(parts[1])) return RenderedKind::kTincScript;
    return std::nullopt;
  }
  if (parts.size() == 3 && parts[0] == "tinc" && parts[1] == "hosts" && name(parts[2])) {
    return RenderedKind::kTincHost;
  }
  if (parts.size() == 2 && parts[0] == "openvpn" && parts[1].size() > 5 &&
      parts[1].ends_with(".conf") && name(parts[1].substr(0, parts[1].size() - 5))) {
    return RenderedKind::kOpenVpnServer;
  }
  return std::nullopt;
}

std::optional<std::string> checkRenderedText(RenderedKind kind, std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7f) {
      return "control character " + std::to_string(c) + " at offset " + std::to_string(i);
    }
  }
  if (text.empty() || text.back() != '\n') return std::string("does not end in a newline");
  LineRule rule = nullptr;
  switch (kind) {
    case RenderedKind::kTincConf:
      rule = tincConfLine;
      break;
    case RenderedKind::kTincHost:
      rule = tincHostLine;
      break;
    case RenderedKind::kTincScript:
      rule = tincScriptLine;
      break;
    case RenderedKind::kOpenVpnServer:
      rule = openVpnServerLine;
      break;
    case RenderedKind::kOpenVpnClient:
      rule = openVpnClientLine;
      break;
  }
  Counts counts;
  // Key material: a PEM block in a host file, inline <ca>..</ca> blocks in a profile.
  std::string block_end;
  bool pem = false;
  std::size_t number_ = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    auto line = text.substr(start, end - start);
    start = end + 1;
    ++number_;
    if (kind == RenderedKind::kTincScript && number_ == 1) {
      if (line != "#!/bin/sh") return lineError(number_, "is not #!/bin/sh");
      continue;
    }
    if (pem) {
      if (line == "-----END RSA PUBLIC KEY-----") {
        pem = false;
      } else if (!base64(line)) {
        return lineError(number_, "is not base64 inside the key");
      }
      continue;
    }
    if (!block_end.empty()) {
      if (line == block_end) {
        block_end.clear();
      } else if (line.starts_with("</") || line.starts_with("<")) {
        return lineError(number_, "opens or closes another block inside " + block_end);
      }
      continue;
    }
    // A comment, whatever it quotes, and an empty line are nothing to tincd, OpenVPN or sh.
    if (line.empty() || line.starts_with("#")) continue;
    if (kind == RenderedKind::kTincHost && line == "-----BEGIN RSA PUBLIC KEY-----") {
      counts.add("key");
      if (counts["key"] > 1) return lineError(number_, "is a second key");
      pem = true;
      continue;
    }
    if (kind == RenderedKind::kOpenVpnClient) {
      static const std::set<std::string_view> kBlocks = {"<ca>", "<cert>", "<key>", "<tls-crypt>"};
      if (kBlocks.count(line)) {
        counts.add(std::string(line));
        if (counts[std::string(line)] > 1) return lineError(number_, "repeats a block");
        block_end = "</" + std::string(line.substr(1));
        continue;
      }
    }
    auto t = tokens(line);
    if (!t) return lineError(number_, "has an empty value or stray spaces");
    auto why = rule(line, *t, counts);
    if (!why.empty()) return lineError(number_, why);
  }
  if (pem) return std::string("the key block is not closed");
  if (!block_end.empty()) return "the block is not closed by " + block_end;
  // What each kind must say exactly once.
  std::vector<std::string> once;
  switch (kind) {
    case RenderedKind::kTincConf:
      once = {"Name", "Mode", "Interface", "PrivateKeyFile", "StrictSubnets"};
      break;
    case RenderedKind::kTincHost:
      once = {"Port", "Cipher", "Digest"};
      break;
    case RenderedKind::kTincScript:
      once = {"notify"};
      break;
    case RenderedKind::kOpenVpnServer:
      once = {"mode", "proto",      "port",      "dev",        "ca",     "cert",
              "key",  "crl-verify", "tls-crypt", "management", "status", "script-security",
              "user", "group",      "reneg-sec"};
      break;
    case RenderedKind::kOpenVpnClient:
      once = {"client", "<ca>", "<cert>", "<key>", "<tls-crypt>"};
      break;
  }
  for (const auto& key : once) {
    if (counts[key] != 1) return "has no " + key + " line";
  }
  return std::nullopt;
}

std::optional<std::string> checkRenderedFile(const RenderedFile& file) {
  auto kind = renderedKindOf(file.path);
  if (!kind) return file.path.string() + ": is not a path meshbroker renders";
  unsigned mode = *kind == RenderedKind::kTincScript ? 0755 : 0644;
  if (file.mode != mode) return file.path.string() + ": has the wrong mode";
  if (auto why = checkRenderedText(*kind, file.content)) return file.path.string() + ": " + *why;
  return std::nullopt;
}

}  // namespace meshbroker::templates
