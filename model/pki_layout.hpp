// Where the OpenVPN PKI keeps each file: pure path arithmetic shared by the PKI and the renderer.
#pragma once

#include <filesystem>
#include <string>

namespace meshbroker::model {

// The layout of a PKI folder. Every server of a network sees the same folder contents (the
// network CA, one client CA, trust file, CRL file and tls-crypt key per instance name), so one
// client profile works on all of them.
struct PkiLayout {
  std::filesystem::path dir;

  // The network CA: signs server certificates (every profile's <ca>), and signed the client
  // certificates issued before instances had CAs of their own ("legacy" in the index).
  std::filesystem::path caCert() const { return dir / "ca.crt"; }
  std::filesystem::path caKey() const { return dir / "private" / "ca.key"; }
  // The network CA's CRL: its revoked certificates (legacy client certificates).
  std::filesystem::path crl() const { return dir / "crl.pem"; }
  // An instance's client CA: signs the client certificates of that instance only, so no other
  // instance trusts them.
  std::filesystem::path instanceCaCert(const std::string& instance) const {
    return dir / "ca" / (instance + ".crt");
  }
  std::filesystem::path instanceCaKey(const std::string& instance) const {
    return dir / "private" / "ca" / (instance + ".key");
  }
  // What an instance's server trusts for clients (its `ca`): its client CA, plus the network CA
  // while legacy certificates of that instance are valid.
  std::filesystem::path instanceTrust(const std::string& instance) const {
    return dir / "trust" / (instance + ".pem");
  }
  // An instance's server's `crl-verify`: the CRL of its client CA and the network CA's CRL for
  // that instance (which also lists every legacy certificate issued for another instance).
  std::filesystem::path instanceCrl(const std::string& instance) const {
    return dir / "crl" / (instance + ".pem");
  }
  std::filesystem::path index() const { return dir / "private" / "index.json"; }
  std::filesystem::path lock() const { return dir / "private" / ".lock"; }
  // A server certificate per node and instance ("chip_public").
  std::filesystem::path serverCert(const std::string& server) const {
    return dir / "servers" / (server + ".crt");
  }
  std::filesystem::path serverKey(const std::string& server) const {
    return dir / "private" / "servers" / (server + ".key");
  }
  // One tls-crypt key per instance name: it also keeps a public profile out of a private
  // instance, since a client without that instance's key cannot even start a handshake.
  std::filesystem::path tlsCryptKey(const std::string& instance) const {
    return dir / "private" / "tls-crypt" / (instance + ".key");
  }
  // The shared certificate of a public instance (its key is kept so the profile can be
  // printed again).
  std::filesystem::path sharedCert(const std::string& instance) const {
    return dir / "shared" / (instance + ".crt");
  }
  std::filesystem::path sharedKey(const std::string& instance) const {
    return dir / "private" / "shared" / (instance + ".key");
  }
};

// The certificate name of a node's server certificate for an instance.
inline std::string serverCertName(const std::string& node, const std::string& instance) {
  return node + "_" + instance;
}

// The common name of a public instance's shared client certificate.
inline std::string sharedClientName(const std::string& instance) { return "shared_" + instance; }

}  // namespace meshbroker::model
