// The read API's documents (/api/v1/...), built from a daemon snapshot. Pure: a snapshot in,
// JSON out. Field names are a contract (docs/api.md); extend, never rename.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "supervisor/snapshot.hpp"

namespace meshbroker::web {

struct BuildInfo {
  std::string version;
};

enum class Document { kStatus, kBackends, kGateways, kRoutes, kMesh, kClients, kEvents };
inline constexpr int kDocumentCount = 7;

// "status", "backends", ... -> the document; nullopt for any other name.
std::optional<Document> documentNamed(std::string_view name);
std::string_view nameOf(Document document);

// Every document: {"generation", "updated_ms", "node", <name>: ...}; status holds them all.
nlohmann::json document(const supervisor::Snapshot& snapshot, const BuildInfo& build,
                        Document which);

// {"error": {"status": 404, "code": "not_found", "message": "..."}}
nlohmann::json errorBody(int status, std::string_view code, std::string_view message);

}  // namespace meshbroker::web
