// Cross-field checks on a NodeConfig whose fields are each valid on their own.
#pragma once

#include "config/diagnostics.hpp"
#include "config/model.hpp"

namespace meshbroker::config {

// Records every rule the config breaks (errors) and every likely mistake (warnings).
void validate(const NodeConfig& config, Diagnostics& diag);

}  // namespace meshbroker::config
