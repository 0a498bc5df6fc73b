// The network document from untrusted text: every field checked the way the config checks its
// own (node names, addresses, CIDRs, tinc keys line by line), so nothing in a document can
// become a directive in a rendered host file. Fields this version does not know are ignored
// (a newer registry may add some; the signature covers them anyway). Pure.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "model/network_document.hpp"

namespace meshbroker::network {

// Larger than any real network's document (a thousand nodes with 4096-bit keys is ~1 MB).
inline constexpr std::size_t kMaxDocumentBytes = 4 * 1024 * 1024;
inline constexpr std::size_t kMaxNodes = 4096;

struct ParsedDocument {
  std::optional<model::NetworkDocument> document;
  std::string error;  // set when document is empty: "nodes[3].mesh_address: ..."
};

ParsedDocument parseDocument(std::string_view text);

// One node as the document writes it (the registry's own state keeps joined nodes this way);
// nullopt with `error` naming the field under `where`.
std::optional<model::NetworkNode> parseNode(const nlohmann::json& value, const std::string& where,
                                            std::string& error);

// The document's canonical text (what the registry signs): toJson, compact.
std::string documentText(const model::NetworkDocument& document);

}  // namespace meshbroker::network
