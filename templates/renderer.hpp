// Rendering: a pure function from a node's config to the text of every file it needs.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "model/rendered_file.hpp"

namespace meshbroker::templates {

using model::RenderedFile;

struct RenderOptions {
  // The meshbroker binary the tinc hooks call to notify the daemon.
  std::filesystem::path meshbroker_binary = "/usr/bin/meshbroker";
};

// Thrown when a value would change the structure of a rendered file (a control character
// reached the renderer) or a template is broken. Validation rejects such values first; this is
// the second line of defence.
class RenderError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every file of the node, sorted by path. Throws RenderError.
std::vector<RenderedFile> renderNode(const config::NodeConfig& node, const RenderOptions& options);

// The server config of each OpenVPN instance: "openvpn/<name>.conf" (part of renderNode).
std::vector<RenderedFile> renderOpenVpn(const config::NodeConfig& node);

// Where OpenVPN instance files live at run time (management socket, status file).
std::filesystem::path managementSocket(const config::NodeConfig& node,
                                       const config::OpenVpnInstance& instance);
std::filesystem::path statusFile(const config::NodeConfig& node,
                                 const config::OpenVpnInstance& instance);

// One `remote` line of a client profile.
struct ProfileRemote {
  std::string host;
  config::Port port;
  config::Proto proto = config::Proto::kUdp;
  bool operator==(const ProfileRemote&) const = default;
};

// Every server that offers the instance: this node first (when it runs an instance of that
// name and has a public address), then each server in hosts that lists it.
std::vector<ProfileRemote> profileRemotes(const config::NodeConfig& node,
                                          const config::NodeName& instance);

// What a profile embeds from the PKI (PEM text and the tls-crypt key).
struct ProfileSecrets {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  std::string tls_crypt_key;
};

// An inline .ovpn client profile. Throws RenderError when there is no remote to list.
std::string renderClientProfile(const config::NodeConfig& node, const config::NodeName& instance,
                                config::InstanceKind kind, const std::string& client_name,
                                const ProfileSecrets& secrets);

// Quotes text for a POSIX shell: 'text' with every ' written as '\''.
std::string shellQuote(std::string_view text);

}  // namespace meshbroker::templates
