#include "health/prober.hpp"

namespace meshbroker::health {

std::string_view toString(ProbeKind kind) { return kind == ProbeKind::kIcmp ? "icmp" : "udp"; }

}  // namespace meshbroker::health
