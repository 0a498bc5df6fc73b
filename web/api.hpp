// The read API's documents (/api/v1/...), built from a daemon snapshot. Pure: a snapshot in,
// JSON out. Field names are a contract (docs/api.md); extend, never rename. Each document comes
// in two views: public (states and counts) and full (with the bearer token).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "model/snapshot.hpp"

namespace meshbroker::web {

struct BuildInfo {
  std::string version;
};

enum class Document { kStatus, kBackends, kGateways, kRoutes, kMesh, kClients, kEvents, kUsage };
inline constexpr int kDocumentCount = 8;

// Who reads: kPublic (no token) never gets OpenVPN users' names, real or virtual addresses,
// management lines, backend log lines, tinc peers' public addresses, nor event texts that
// carry any of these; kFull (the bearer token, or the root-only control socket) gets all.
enum class Access { kPublic, kFull };

// "status", "backends", ... -> the document; nullopt for any other name.
std::optional<Document> documentNamed(std::string_view name);
std::string_view nameOf(Document document);

// Every document: {"generation", "updated_ms", "node", "access", <name>: ...}; status holds
// them all. "access" is "public" or "full".
nlohmann::json document(const model::Snapshot& snapshot, const BuildInfo& build, Document which,
                        Access access);

// An event's text as the public view shows it (see docs/api.md, "Privacy").
std::string publicEventText(std::string_view source, std::string_view what);

// {"error": {"status": 404, "code": "not_found", "message": "..."}}
nlohmann::json errorBody(int status, std::string_view code, std::string_view message);

}  // namespace meshbroker::web
