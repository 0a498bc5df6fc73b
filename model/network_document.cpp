#include "model/network_document.hpp"

namespace meshbroker::model {

const NetworkNode* NetworkDocument::node(const std::string& name) const {
  for (const auto& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

nlohmann::json toJson(const NetworkOffer& offer) {
  return {{"name", offer.name}, {"port", offer.port}, {"proto", offer.proto}};
}

nlohmann::json toJson(const NetworkNode& node) {
  nlohmann::json offers = nlohmann::json::array();
  for (const auto& offer : node.openvpn) offers.push_back(toJson(offer));
  nlohmann::json out = {{"name", node.name},
                        {"role", node.role},
                        {"mesh_address", node.mesh_address},
                        {"tinc_public_key", node.tinc_public_key},
                        {"openvpn", offers},
                        {"client_subnets", node.client_subnets}};
  if (node.public_address) out["public_address"] = *node.public_address;
  if (node.port) out["port"] = *node.port;
  if (node.mesh_address6) out["mesh_address6"] = *node.mesh_address6;
  if (!node.client_subnets6.empty()) out["client_subnets6"] = node.client_subnets6;
  return out;
}

nlohmann::json toJson(const NetworkSnapshot& n) {
  return {{"name", n.name},
          {"registry", n.registry},
          {"key_fingerprint", n.key_fingerprint},
          {"is_registry", n.is_registry},
          {"version", n.version},
          {"issued_ms", n.issued_ms},
          {"held_since_ms", n.held_since_ms},
          {"nodes", n.nodes},
          {"removed", n.removed},
          {"last_pull_ms", n.last_pull_ms},
          {"last_pull_from", n.last_pull_from},
          {"last_error", n.last_error},
          {"last_error_ms", n.last_error_ms},
          {"serving", n.serving}};
}

nlohmann::json toJson(const NetworkDocument& document) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& node : document.nodes) nodes.push_back(toJson(node));
  return {{"network", document.network},     {"version", document.version},
          {"issued_ms", document.issued_ms}, {"nodes", nodes},
          {"crls", document.crls},           {"removed", document.removed}};
}

}  // namespace meshbroker::model
