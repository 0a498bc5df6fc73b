// One client connected to an OpenVPN instance, as its management interface lists it
// (backends/openvpn_status.hpp parses it; the snapshot carries it to the API and metrics).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace meshbroker::model {

struct ConnectedClient {
  std::string common_name;
  std::string real_address;                // "192.0.2.50:41234" (or "[2001:db8::1]:1194")
  std::string virtual_address;             // tunnel IPv4 address; empty until one is assigned
  std::uint64_t bytes_received = 0;        // from the client (its upload)
  std::uint64_t bytes_sent = 0;            // to the client (its download)
  std::int64_t connected_since = 0;        // time_t
  std::optional<std::uint64_t> client_id;  // the management interface's CID (for client-kill)
  bool operator==(const ConnectedClient&) const = default;
};

}  // namespace meshbroker::model
