// The OpenVPN PKI of a network: CA, server and client certificates, CRL and tls-crypt keys,
// made with OpenSSL 3 (EC P-256 keys), plus the index of issued clients.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "model/pki_layout.hpp"

namespace meshbroker::backends {

using model::PkiLayout;
using model::serverCertName;
using model::sharedClientName;

// Every PKI failure: the message names the file and what is wrong with it.
class PkiError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Which CA signed a client certificate.
enum class Issuer {
  kNetwork,   // ca.crt: every client certificate issued before instances had their own CA
  kInstance,  // the client CA of the certificate's instance
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
  // A record without "issuer" in the file is a legacy one (kNetwork).
  Issuer issuer = Issuer::kInstance;
  bool operator==(const IssuedClient&) const = default;
};

// What a revoke did: certificates revoked now, and ones of that name revoked before (the CRL
// is rewritten to hold them too, which finishes a revocation an older version left half-done).
struct RevokeResult {
  int revoked = 0;
  int already_revoked = 0;
};

// CRL timing. OpenVPN refuses every client once a CRL's nextUpdate has passed, and every client
// while its lastUpdate is in the future (a server whose clock is behind): so a CRL is valid
// for 30 days from a day before it was made, and the CA holder refreshes it when fewer than 23
// days are left (the daemon checks daily: a week of missed refreshes still leaves 23 days).
inline constexpr std::int64_t kCrlLifetimeSeconds = 30 * 86400;
inline constexpr std::int64_t kCrlBackdateSeconds = 86400;
inline constexpr std::int64_t kCrlRefreshBelowSeconds = 23 * 86400;

// Whether a CRL whose earliest nextUpdate is next_update (nullopt: missing) is due for a refresh.
bool crlRefreshDue(std::optional<std::int64_t> next_update, std::int64_t now);

// The earliest nextUpdate of the CRLs in a PEM file (nullopt when the file does not exist).
// Throws PkiError naming the file when it exists but holds no readable CRL.
std::optional<std::int64_t> crlNextUpdate(const std::filesystem::path& file);
// What an operator must hear about a node's CRLs at `now` (seconds): empty while they have more
// than kCrlWarnBelowSeconds left. OpenVPN refuses every client once its CRL has expired, so a
// server that only gets copies warns in time, and says where fresh ones come from.
// An instance's CRL file opens with comment lines naming its revoked certificates' holders,
// "# revoked SERIAL NAME" (OpenVPN, like OpenSSL, reads only the PEM blocks). A server that
// only gets copies learns from them whose sessions to end (Daemon::checkRevocations). Serial
// (upper-case hex) -> name; lines that are not such a line, or carry a bad serial or name, are
// ignored.
std::map<std::string, std::string> revokedNamesIn(std::string_view crl_file_text);

inline constexpr std::int64_t kCrlWarnBelowSeconds = 7 * 86400;
std::string crlAdvice(std::optional<std::int64_t> next_update, std::int64_t now, bool holder);

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
  // Writes one file atomically with a mode (io::writeFileAtomically by default); tests inject
  // one that fails like a full disk. It may throw anything derived from std::exception.
  using Writer =
      std::function<void(const std::filesystem::path&, const std::string& text, unsigned mode)>;

  explicit Pki(std::filesystem::path dir, Clock now = {}, Writer writer = {});

  const PkiLayout& layout() const { return layout_; }

  // Creates what is missing (CA named ca_name, index, CRL) and checks what exists: a malformed
  // certificate or key, or a key that does not match its certificate, throws PkiError. An index
  // is only ever created together with a new CA: a CA without its index throws (fail closed).
  void ensureCa(const std::string& ca_name);
  // The server certificate of `server` (e.g. "chip_public"), made if missing.
  void ensureServer(const std::string& server);
  // The tls-crypt key of an instance name, made if missing.
  void ensureTlsCrypt(const std::string& instance);
  // The client CA of an instance, its trust file and its CRL file, made if missing.
  void ensureInstance(const std::string& instance);

  // Issues a client certificate signed by the instance's client CA (name must be
  // [A-Za-z0-9_]{1,64} and not held by a valid certificate). The private key is not stored.
  ClientCredentials issueClient(const std::string& name, const std::string& instance);
  // The shared certificate of a public instance: issued once, then the same one each time. A
  // replaced one (revoked, or its files lost) is in the CRL before the new one exists.
  ClientCredentials sharedClient(const std::string& instance);
  // Revokes every valid certificate named name. Every CRL file is on disk, holding them, before
  // the index says so: a failure in between leaves them revoked and a retry finishes.
  RevokeResult revoke(const std::string& name);
  // Brings every CRL file (and trust file) up to date: each is the union of its old entries and
  // the index's revocations (an entry is never dropped). A file that already holds exactly that
  // and is not due for a refresh is left as it is (the same bytes, so copies of it stay the
  // same); any other is rewritten with a fresh validity.
  void writeCrl();
  // On the CA holder (the CA key is here): rewrites the CRLs when one is missing or has fewer
  // than kCrlRefreshBelowSeconds left. Returns whether it did. Elsewhere: false.
  bool refreshCrlIfDue();
  // Whether this is the CA holder (the network CA's key is here).
  bool holdsCaKey() const;
  // The earliest nextUpdate over every CRL file of the PKI (for status and metrics); nullopt
  // when there is none, or when an instance's CRL file is missing.
  std::optional<std::int64_t> crlNextUpdate() const;
  // The instances the PKI knows: those with a client CA, a CRL file or an index record.
  std::vector<std::string> instances() const;

  std::vector<IssuedClient> list() const;

 private:
  std::int64_t now() const;
  void put(const std::filesystem::path& path, const std::string& text, unsigned mode) const;
  void ensureCaLocked(const std::string& ca_name);
  std::vector<IssuedClient> readIndex() const;
  void ensureInstanceCaLocked(const std::string& instance);
  void writeCrlsLocked(const std::vector<IssuedClient>& clients,
                       const std::vector<std::string>& extra_instances = {});
  ClientCredentials credentials(const std::string& cert_pem, const std::string& key_pem,
                                const std::string& instance) const;

  PkiLayout layout_;
  Clock now_;
  Writer writer_;
};

}  // namespace meshbroker::backends
