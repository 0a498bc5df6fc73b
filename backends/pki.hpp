// The OpenVPN PKI of a network: CA, server and client certificates, CRL and tls-crypt keys,
// made with OpenSSL 3 (EC P-256 keys), plus the index of issued clients.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "backends/pki_layout.hpp"

namespace meshbroker::backends {

// Every PKI failure: the message names the file and what is wrong with it.
class PkiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One issued client certificate, as kept in the index.
struct IssuedClient {
  std::string name;      // the certificate's common name
  std::string instance;  // the instance it was issued for
  std::string serial;    // hex
  std::int64_t issued_at = 0;
  std::int64_t not_after = 0;
  std::optional<std::int64_t> revoked_at;
  bool shared = false;  // a public instance's shared certificate
  bool operator==(const IssuedClient&) const = default;
};

// What a client profile embeds.
struct ClientCredentials {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  std::string tls_crypt_key;
};

// Parses an index file's text. Throws PkiError naming what is wrong.
std::vector<IssuedClient> parseIndex(const std::string& text);
std::string formatIndex(const std::vector<IssuedClient>& clients);

// A fresh OpenVPN static key ("OpenVPN Static key V1", 2048 bits) for tls-crypt.
std::string generateStaticKey();
// Checks that text is an OpenVPN static key; throws PkiError naming the file.
void checkStaticKey(const std::string& text, const std::filesystem::path& file);

// Checks that a PEM file holds exactly one X.509 certificate; throws PkiError naming the file.
void checkCertificatePem(const std::string& text, const std::filesystem::path& file);

class Pki {
 public:
  using Clock = std::function<std::int64_t()>;  // seconds since the epoch

  explicit Pki(std::filesystem::path dir, Clock now = {});

  const PkiLayout& layout() const { return layout_; }

  // Creates what is missing (CA named ca_name, CRL) and checks what exists: a malformed
  // certificate or key, or a key that does not match its certificate, throws PkiError.
  void ensureCa(const std::string& ca_name);
  // The server certificate of `server` (e.g. "chip_public"), made if missing.
  void ensureServer(const std::string& server);
  // The tls-crypt key of an instance name, made if missing.
  void ensureTlsCrypt(const std::string& instance);

  // Issues a client certificate (name must be [A-Za-z0-9_]{1,64} and not held by a valid
  // certificate). The private key is not stored. Throws PkiError.
  ClientCredentials issueClient(const std::string& name, const std::string& instance);
  // The shared certificate of a public instance: issued once, then the same one each time.
  ClientCredentials sharedClient(const std::string& instance);
  // Revokes every valid certificate named name and rewrites the CRL. Returns how many.
  int revoke(const std::string& name);
  // Rewrites the CRL from the index (also refreshes its next-update time).
  void writeCrl();

  std::vector<IssuedClient> list() const;

 private:
  std::int64_t now() const;
  void ensureCaLocked(const std::string& ca_name);
  ClientCredentials credentials(const std::string& cert_pem, const std::string& key_pem,
                                const std::string& instance) const;

  PkiLayout layout_;
  Clock now_;
};

}  // namespace meshbroker::backends
