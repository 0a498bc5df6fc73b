// OpenWrt's UCI config format (/etc/config/meshbroker) read as the JSON config meshbroker
// takes, remembering which UCI option each JSON path came from so that `check` names the
// option the operator wrote (issue 22). Pure: text in, JSON and names out.
//
//   config meshbroker 'node'          -> top level: name, role
//   config tinc 'tinc'                -> "tinc": {...}  (also health, routing, status, paths,
//                                        network, supervisor: one section each)
//   config host 'chip'                -> "hosts": [{"name": "chip", ...}]  (also openvpn,
//                                        route -> "routes"; the section name is the "name")
//   option KEY 'VALUE'                -> "KEY": "VALUE" (a number or true/false where the
//                                        config takes one: port, interval_ms, enabled, ...)
//   list KEY 'VALUE'                  -> "KEY": [..., "VALUE"]
//
// Lists of objects (a server's route sets' `via` gateways, a host's `openvpn` offers) have no
// UCI form: a server keeps its JSON config; a router's gateway role needs neither.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace meshbroker::config {

// True when text is UCI rather than JSON: its first word (after comments) is `config` or
// `package`.
bool looksLikeUci(std::string_view text);

struct UciDocument {
  nlohmann::json json;
  std::map<std::string, std::string> names;  // JSON pointer -> "meshbroker.tinc.address"
};

struct UciResult {
  std::optional<UciDocument> document;  // set when the text parsed
  std::string error;                    // else "line N: why"
};
UciResult parseUci(std::string_view text);

// The UCI name of a JSON pointer in document: the longest pointer it knows that is a prefix,
// then the rest as item numbers ("/hosts/0/client_subnets/1" -> "meshbroker.chip.client_subnets
// item 2"). The pointer itself when nothing matches.
std::string uciName(const UciDocument& document, const std::string& pointer);

// text with each JSON pointer into document (a word starting /tinc, /hosts, ... : a key the
// document has at its top) replaced by its UCI name; file paths and the rest stay.
std::string uciNamesIn(const UciDocument& document, std::string_view text);

}  // namespace meshbroker::config
