// What a node runs with a network document (issue 20): its config file plus every node of the
// document the file does not name, as a host (its tinc key, mesh address, public address,
// client pools), so a new volunteer's router reaches every node with no file edited there.
// The file wins where both name a node (what an operator wrote by hand or with Ansible stays
// as written), except for removal: a node the document lists as removed is dropped even when
// the file names it (as a host and from every route set's `via`), since the registry took it
// out of the network. "all_gateways" route sets are resolved again over the result. The
// result is validated like a config file; if the document would make it invalid (a mesh
// address taken twice, an overlapping pool) nothing of it is used. Pure.
#pragma once

#include <string>
#include <vector>

#include "config/model.hpp"
#include "model/network_document.hpp"

namespace meshbroker::network {

struct Overlaid {
  config::NodeConfig config;         // the file's config with the document's nodes added
  std::vector<std::string> added;    // names of the hosts the document added
  std::vector<std::string> dropped;  // hosts of the file the document removed
  std::vector<std::string> errors;   // non-empty: the document was not used (config = file's)
};

Overlaid overlay(const config::NodeConfig& file, const model::NetworkDocument& document);

}  // namespace meshbroker::network
