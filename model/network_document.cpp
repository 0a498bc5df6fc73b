#include "model/network_document.hpp"

namespace meshbroker::model {

const NetworkNode* NetworkDocument::node(const std::string& name) const {
  for (const auto& n : nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

nlohmann::json toJson(const NetworkNode& node) {
  nlohmann::json out = {{"name", node.name},
                        {"role", node.role},
                        {"mesh_address", node.mesh_address},
                        {"tinc_public_key", node.tinc_public_key},
                        {"openvpn", node.openvpn},
                        {"client_subnets", node.client_subnets}};
  if (node.public_address) out["public_address"] = *node.public_address;
  if (node.port) out["port"] = *node.port;
  return out;
}

nlohmann::json toJson(const NetworkDocument& document) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& node : document.nodes) nodes.push_back(toJson(node));
  return {{"network", document.network},
          {"version", document.version},
          {"issued_ms", document.issued_ms},
          {"nodes", nodes},
          {"crls", document.crls}};
}

}  // namespace meshbroker::model
