#include "config/uci.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <vector>

namespace meshbroker::config {
namespace {

using Json = nlohmann::json;

// Where each section type goes in the JSON config.
enum class Place { kTop, kObject, kArray };
struct SectionType {
  std::string_view type;
  Place place;
  std::string_view key;
};
constexpr std::array kSections = {
    SectionType{"meshbroker", Place::kTop, ""},
    SectionType{"tinc", Place::kObject, "tinc"},
    SectionType{"health", Place::kObject, "health"},
    SectionType{"routing", Place::kObject, "routing"},
    SectionType{"status", Place::kObject, "status"},
    SectionType{"paths", Place::kObject, "paths"},
    SectionType{"network", Place::kObject, "network"},
    SectionType{"supervisor", Place::kObject, "supervisor"},
    SectionType{"host", Place::kArray, "hosts"},
    SectionType{"openvpn", Place::kArray, "openvpn"},
    SectionType{"route", Place::kArray, "routes"},
};

// UCI has only strings: these keys are numbers or booleans wherever the config has them
// (tests/unit/uci_test.cpp checks the seed's configs round-trip, so a new one is not missed).
const std::set<std::string_view> kIntegers = {"port",
                                              "udp_port",
                                              "join_port",
                                              "compression",
                                              "key_size",
                                              "max_clients",
                                              "per_source_new_per_minute",
                                              "per_source_connections",
                                              "ping_s",
                                              "ping_restart_s",
                                              "interval_ms",
                                              "timeout_ms",
                                              "down_after",
                                              "burst",
                                              "up_after",
                                              "warmup_ms",
                                              "loss_down_pct",
                                              "rtt_down_ms",
                                              "flap_hold_ms",
                                              "flap_hold_max_ms",
                                              "protocol",
                                              "table_base",
                                              "rule_priority",
                                              "resync_ms",
                                              "threads",
                                              "poll_ms",
                                              "tinc_debug",
                                              "max_crashes",
                                              "restart_base_ms",
                                              "restart_max_ms",
                                              "healthy_after_ms",
                                              "ready_timeout_ms",
                                              "stop_timeout_ms",
                                              "log_lines",
                                              "openvpn_status_interval_ms",
                                              "weight",
                                              "priority"};
const std::set<std::string_view> kBooleans = {"insecure", "forward_filter", "from_network",
                                              "allow_public_clients", "enabled"};

// A UCI value where the config takes a number or a boolean; the text itself otherwise (then
// the config's reader says what is wrong with it, under the option's UCI name).
Json typed(std::string_view key, const std::string& text) {
  if (kIntegers.contains(key) && !text.empty() && text.size() <= 12 &&
      std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return std::stoll(text);
  }
  if (kBooleans.contains(key)) {
    for (std::string_view yes : {"1", "true", "yes", "on", "enabled"}) {
      if (text == yes) return true;
    }
    for (std::string_view no : {"0", "false", "no", "off", "disabled"}) {
      if (text == no) return false;
    }
  }
  return text;
}

bool isIdentifier(std::string_view word) {
  return !word.empty() && word.size() <= 64 &&
         std::all_of(word.begin(), word.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

// The words of one line: 'single' (literal), "double" (backslash escapes) and bare parts run
// together as in a shell; a word starting with # ends the line.
std::optional<std::vector<std::string>> words(std::string_view line, std::string& why) {
  std::vector<std::string> out;
  std::size_t i = 0;
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (true) {
    while (i < line.size() && blank(line[i])) ++i;
    if (i >= line.size() || line[i] == '#') return out;
    std::string word;
    while (i < line.size() && !blank(line[i])) {
      const char c = line[i];
      if (c == '\'') {
        const auto end = line.find('\'', i + 1);
        if (end == std::string_view::npos) {
          why = "a ' quote is not closed on this line";
          return std::nullopt;
        }
        word.append(line.substr(i + 1, end - i - 1));
        i = end + 1;
      } else if (c == '"') {
        bool closed = false;
        for (++i; i < line.size();) {
          const char d = line[i++];
          if (d == '"') {
            closed = true;
            break;
          }
          if (d == '\\' && i < line.size()) {
            word += line[i++];
            continue;
          }
          word += d;
        }
        if (!closed) {
          why = "a \" quote is not closed on this line";
          return std::nullopt;
        }
      } else if (c == '\\' && i + 1 < line.size()) {
        word += line[i + 1];
        i += 2;
      } else {
        word += c;
        ++i;
      }
    }
    out.push_back(std::move(word));
  }
}

struct Section {
  const SectionType* type = nullptr;
  std::string pointer;            // "" (top), "/tinc", "/hosts/0"
  std::string uci;                // "meshbroker.tinc", "meshbroker.@host[1]"
  std::set<std::string> options;  // keys written with `option`
  std::set<std::string> lists;    // keys written with `list`
};

}  // namespace

bool looksLikeUci(std::string_view text) {
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string why;
    auto line = words(text.substr(start, end - start), why);
    if (!line) return false;
    if (!line->empty()) return (*line)[0] == "config" || (*line)[0] == "package";
    start = end + 1;
  }
  return false;
}

UciResult parseUci(std::string_view text) {
  UciDocument doc;
  doc.json = Json::object();
  std::optional<Section> current;
  std::map<std::string, int> seen_at;    // section type (top and objects) -> its line
  std::map<std::string, int> anonymous;  // type -> sections of it so far
  int number = 0;
  std::size_t start = 0;
  auto fail = [&](const std::string& why) {
    return UciResult{std::nullopt, "line " + std::to_string(number) + ": " + why};
  };
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    ++number;
    std::string why;
    auto line = words(text.substr(start, end - start), why);
    start = end + 1;
    if (!line) return fail(why);
    if (line->empty()) continue;
    const auto& w = *line;
    if (w[0] == "package") {
      if (w.size() != 2 || w[1] != "meshbroker")
        return fail("only \"package meshbroker\" belongs here");
      continue;
    }
    if (w[0] == "config") {
      if (w.size() < 2 || w.size() > 3) return fail("\"config TYPE ['NAME']\" is expected");
      auto type = std::find_if(kSections.begin(), kSections.end(),
                               [&](const SectionType& t) { return t.type == w[1]; });
      if (type == kSections.end()) {
        std::string known;
        for (const auto& t : kSections) known += (known.empty() ? "" : ", ") + std::string(t.type);
        return fail("\"config " + w[1] + "\": not a section type meshbroker knows (" + known + ")");
      }
      if (w.size() == 3 && !isIdentifier(w[2])) {
        return fail("the section name \"" + w[2] + "\" is not letters, digits and _");
      }
      Section s;
      s.type = &*type;
      const int index = anonymous[w[1]]++;
      s.uci =
          "meshbroker." + (w.size() == 3 ? w[2] : "@" + w[1] + "[" + std::to_string(index) + "]");
      if (type->place != Place::kArray) {
        if (auto before = seen_at.find(w[1]); before != seen_at.end()) {
          return fail("a second \"config " + w[1] + "\" section (line " +
                      std::to_string(before->second) + " has one; there is one of each)");
        }
        seen_at[w[1]] = number;
      }
      if (type->place == Place::kObject) {
        s.pointer = "/" + std::string(type->key);
        doc.json[std::string(type->key)] = Json::object();
      } else if (type->place == Place::kArray) {
        auto& array = doc.json[std::string(type->key)];
        if (array.is_null()) array = Json::array();
        s.pointer = "/" + std::string(type->key) + "/" + std::to_string(array.size());
        array.push_back(Json::object());
        if (w.size() == 3) {
          array.back()["name"] = w[2];
          doc.names[s.pointer + "/name"] = s.uci;
        }
      }
      if (!s.pointer.empty()) doc.names[s.pointer] = s.uci;
      current = std::move(s);
      continue;
    }
    if (w[0] == "option" || w[0] == "list") {
      if (!current) return fail("\"" + w[0] + "\" before any \"config\" section");
      if (w.size() != 3) return fail("\"" + w[0] + " NAME 'VALUE'\" is expected");
      const auto& key = w[1];
      if (!isIdentifier(key))
        return fail("the option name \"" + key + "\" is not letters, digits and _");
      Section& s = *current;
      // The service's own switch (the init script reads it), not a config key.
      if (s.type->place == Place::kTop && key == "enabled") continue;
      Json& object = doc.json[Json::json_pointer(s.pointer)];
      const std::string pointer = s.pointer + "/" + key;
      doc.names[pointer] = s.uci + "." + key;
      if (w[0] == "option") {
        if (s.lists.contains(key)) return fail("\"" + key + "\" is a list here already");
        if (s.type->place == Place::kArray && key == "name" && object.contains("name") &&
            !s.options.contains("name") && object["name"] != w[2]) {
          return fail("option name '" + w[2] + "' is not the section's name");
        }
        s.options.insert(key);
        object[key] = typed(key, w[2]);
      } else {
        if (s.options.contains(key)) return fail("\"" + key + "\" is an option here already");
        s.lists.insert(key);
        auto& array = object[key];
        if (array.is_null()) array = Json::array();
        array.push_back(typed(key, w[2]));
      }
      continue;
    }
    return fail("\"" + w[0] + "\": a line is \"config\", \"option\" or \"list\"");
  }
  return {std::move(doc), {}};
}

std::string uciName(const UciDocument& document, const std::string& pointer) {
  // The longest pointer named, then each further step: a key (.key) or an item (item N, from 1).
  std::string prefix = pointer;
  auto found = document.names.find(prefix);
  while (found == document.names.end() && !prefix.empty()) {
    const auto slash = prefix.rfind('/');
    prefix.erase(slash == std::string::npos ? 0 : slash);
    found = document.names.find(prefix);
  }
  std::string out = found != document.names.end() ? found->second : "meshbroker";
  const std::string rest = pointer.substr(prefix.size());
  for (std::size_t at = 0; at < rest.size();) {
    auto next = rest.find('/', at + 1);
    if (next == std::string::npos) next = rest.size();
    const auto step = rest.substr(at + 1, next - at - 1);
    const bool item =
        !step.empty() && step.size() < 10 &&
        std::all_of(step.begin(), step.end(), [](unsigned char c) { return std::isdigit(c); });
    out += item ? " item " + std::to_string(std::stoul(step) + 1) : "." + step;
    at = next;
  }
  return out;
}

std::string uciNamesIn(const UciDocument& document, std::string_view text) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const bool starts =
        text[i] == '/' &&
        (i == 0 || !(word(text[i - 1]) || text[i - 1] == '/' || text[i - 1] == '.'));
    if (!starts) {
      out += text[i++];
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && (text[end] == '/' || word(text[end]))) ++end;
    const std::string pointer(text.substr(i, end - i));
    const auto first = pointer.substr(1, pointer.find('/', 1) - 1);
    const bool ours = !first.empty() && document.json.contains(first) &&
                      (end == text.size() || text[end] != '.');  // not a file name
    out += ours ? uciName(document, pointer) : pointer;
    i = end;
  }
  return out;
}

}  // namespace meshbroker::config
