// The OpenVPN PKI with OpenSSL 3: X509 building and signing, CRLs, PEM I/O; no openssl CLI.
#include "backends/pki.hpp"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/file.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/file_writer.hpp"

namespace meshbroker::backends {
namespace {

namespace fs = std::filesystem;

constexpr long kCaDays = 20 * 365;
constexpr long kServerDays = 10 * 365;
constexpr long kClientDays = 10 * 365;
// OpenVPN refuses every client once the CRL's nextUpdate has passed: keep it far away and
// rewrite the CRL on every revoke and every `client init`.
constexpr long kCrlDays = 5 * 365;

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Crl = std::unique_ptr<X509_CRL, Deleter<X509_CRL, X509_CRL_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Bignum = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using Asn1Int = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using Asn1Time = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME, ASN1_TIME_free>>;

std::string opensslError() {
  unsigned long code = ERR_get_error();
  char buffer[256] = "no details";
  if (code) ERR_error_string_n(code, buffer, sizeof buffer);
  ERR_clear_error();
  return buffer;
}

[[noreturn]] void fail(const std::string& what) {
  throw PkiError(what + " (OpenSSL: " + opensslError() + ")");
}

std::optional<std::string> readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string mustRead(const fs::path& path) {
  auto text = readFile(path);
  if (!text) throw PkiError(path.string() + ": cannot be read");
  return *text;
}

bool fileExists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// Secrets live under private/ (0700); the rest (CA certificate, CRL) stays readable by the
// unprivileged user OpenVPN drops to, which reads the CRL on every new connection.
void makeFolders(const PkiLayout& layout) {
  std::error_code ec;
  for (const auto& dir : {layout.dir, layout.dir / "servers", layout.dir / "shared"}) {
    fs::create_directories(dir, ec);
    if (ec) throw PkiError("cannot create folder " + dir.string() + ": " + ec.message());
  }
  for (const auto& dir :
       {layout.dir / "private", layout.dir / "private" / "servers",
        layout.dir / "private" / "shared", layout.dir / "private" / "tls-crypt"}) {
    fs::create_directories(dir, ec);
    if (ec) throw PkiError("cannot create folder " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
}

void writeSecret(const fs::path& path, const std::string& text) {
  try {
    io::writeFileAtomically(path, text, 0600);
  } catch (const io::WriteError& e) {
    throw PkiError(e.what());
  }
}

void writePublic(const fs::path& path, const std::string& text) {
  try {
    io::writeFileAtomically(path, text, 0644);
  } catch (const io::WriteError& e) {
    throw PkiError(e.what());
  }
}

// Serialises mutations of one PKI folder (two `client add` at once must not lose a record).
class FolderLock {
 public:
  explicit FolderLock(const fs::path& file) {
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0 || ::flock(fd_, LOCK_EX) != 0) {
      throw PkiError("cannot lock " + file.string());
    }
  }
  ~FolderLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

PKey newKey() {
  PKey key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot generate an EC P-256 key");
  return key;
}

std::string pemOf(EVP_PKEY* key) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
    fail("cannot encode a private key");
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

std::string pemOf(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) fail("cannot encode a certificate");
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

std::string pemOf(X509_CRL* crl) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), crl) != 1) fail("cannot encode the CRL");
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

Cert parseCert(const std::string& text, const fs::path& file) {
  if (text.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    throw PkiError(file.string() + ": is not a PEM certificate (no BEGIN CERTIFICATE line)");
  }
  Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    throw PkiError(file.string() + ": holds a malformed certificate (OpenSSL: " + opensslError() +
                   ")");
  }
  return cert;
}

PKey parseKey(const std::string& text, const fs::path& file) {
  Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  // An empty passphrase callback result: an encrypted key fails instead of prompting.
  PKey key(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) -> int { return 0; }, nullptr));
  if (!key) {
    throw PkiError(file.string() +
                   ": holds no readable unencrypted private key (OpenSSL: " + opensslError() + ")");
  }
  return key;
}

Cert loadCert(const fs::path& file) { return parseCert(mustRead(file), file); }
PKey loadKey(const fs::path& file) { return parseKey(mustRead(file), file); }

std::string serialHex(X509* cert) {
  Bignum bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!bn) fail("cannot read a serial number");
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

std::int64_t notAfter(X509* cert) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

void addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) fail(std::string("cannot make extension ") + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) fail(std::string("cannot add extension ") + value);
}

enum class CertKind { kCa, kServer, kClient };

// Builds and signs a certificate. issuer/issuer_key null: self-signed (the CA).
Cert makeCert(CertKind kind, const std::string& common_name, EVP_PKEY* key, X509* issuer,
              EVP_PKEY* issuer_key, std::int64_t now, long days) {
  Cert cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) fail("cannot make a certificate");
  // 127 random bits: positive, unique without a counter shared between servers.
  Bignum serial(BN_new());
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) {
    fail("cannot make a serial number");
  }
  if (!X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, -3600, &now) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(days), 0, &now)) {
    fail("cannot set validity");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1) {
    fail("cannot set the common name " + common_name);
  }
  X509* signer = issuer ? issuer : cert.get();
  EVP_PKEY* signer_key = issuer_key ? issuer_key : key;
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(signer)) != 1 ||
      X509_set_pubkey(cert.get(), key) != 1) {
    fail("cannot set issuer or key");
  }
  addExtension(cert.get(), signer, NID_subject_key_identifier, "hash");
  addExtension(cert.get(), signer, NID_authority_key_identifier, "keyid:always");
  switch (kind) {
    case CertKind::kCa:
      addExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
      addExtension(cert.get(), signer, NID_key_usage, "critical,keyCertSign,cRLSign");
      break;
    case CertKind::kServer:
      addExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
      addExtension(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyAgreement");
      addExtension(cert.get(), signer, NID_ext_key_usage, "serverAuth");
      break;
    case CertKind::kClient:
      addExtension(cert.get(), signer, NID_basic_constraints, "critical,CA:FALSE");
      addExtension(cert.get(), signer, NID_key_usage, "critical,digitalSignature,keyAgreement");
      addExtension(cert.get(), signer, NID_ext_key_usage, "clientAuth");
      break;
  }
  if (X509_sign(cert.get(), signer_key, EVP_sha256()) == 0) fail("cannot sign " + common_name);
  return cert;
}

void checkPair(X509* cert, EVP_PKEY* key, const fs::path& cert_file, const fs::path& key_file) {
  if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    throw PkiError(key_file.string() + ": does not match the certificate " + cert_file.string());
  }
}

bool validName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::int64_t systemNow() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace

std::vector<IssuedClient> parseIndex(const std::string& text) {
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw PkiError(std::string("index is not valid JSON: ") + e.what());
  }
  if (!root.is_object() || !root.contains("clients") || !root["clients"].is_array()) {
    throw PkiError("index has no \"clients\" array");
  }
  std::vector<IssuedClient> out;
  std::size_t i = 0;
  for (const auto& item : root["clients"]) {
    std::string where = "index /clients/" + std::to_string(i++);
    try {
      IssuedClient client;
      client.name = item.at("name").get<std::string>();
      client.instance = item.at("instance").get<std::string>();
      client.serial = item.at("serial").get<std::string>();
      client.issued_at = item.at("issued_at").get<std::int64_t>();
      client.not_after = item.at("not_after").get<std::int64_t>();
      if (item.contains("revoked_at")) client.revoked_at = item["revoked_at"].get<std::int64_t>();
      client.shared = item.value("shared", false);
      if (!validName(client.name)) throw PkiError("bad name");
      out.push_back(std::move(client));
    } catch (const std::exception& e) {
      throw PkiError(where + ": is not a valid client record (" + e.what() + ")");
    }
  }
  return out;
}

std::string formatIndex(const std::vector<IssuedClient>& clients) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& client : clients) {
    nlohmann::json item = {{"name", client.name},           {"instance", client.instance},
                           {"serial", client.serial},       {"issued_at", client.issued_at},
                           {"not_after", client.not_after}, {"shared", client.shared}};
    if (client.revoked_at) item["revoked_at"] = *client.revoked_at;
    list.push_back(item);
  }
  return nlohmann::json{{"clients", list}}.dump(2) + "\n";
}

std::string generateStaticKey() {
  unsigned char bytes[256];
  if (RAND_bytes(bytes, sizeof bytes) != 1) fail("cannot get random bytes");
  static const char* kHex = "0123456789abcdef";
  std::string out =
      "#\n# 2048 bit OpenVPN static key (tls-crypt), made by meshbroker\n#\n"
      "-----BEGIN OpenVPN Static key V1-----\n";
  for (std::size_t i = 0; i < sizeof bytes; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0xf];
    if (i % 16 == 15) out += '\n';
  }
  out += "-----END OpenVPN Static key V1-----\n";
  OPENSSL_cleanse(bytes, sizeof bytes);
  return out;
}

void checkStaticKey(const std::string& text, const fs::path& file) {
  auto begin = text.find("-----BEGIN OpenVPN Static key V1-----\n");
  auto end = text.find("-----END OpenVPN Static key V1-----");
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    throw PkiError(file.string() + ": is not an OpenVPN static key (no BEGIN/END lines)");
  }
  std::size_t hex = 0;
  for (std::size_t i = begin + 38; i < end; ++i) {
    char c = text[i];
    if (c == '\n') continue;
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      throw PkiError(file.string() + ": is not an OpenVPN static key (a non-hex character)");
    }
    ++hex;
  }
  if (hex != 512) {
    throw PkiError(file.string() + ": is not an OpenVPN static key (" + std::to_string(hex / 2) +
                   " bytes, expected 256)");
  }
}

void checkCertificatePem(const std::string& text, const fs::path& file) { parseCert(text, file); }

Pki::Pki(fs::path dir, Clock now) : layout_{std::move(dir)}, now_(std::move(now)) {}

std::int64_t Pki::now() const { return now_ ? now_() : systemNow(); }

void Pki::ensureCa(const std::string& ca_name) {
  makeFolders(layout_);
  {
    FolderLock lock(layout_.lock());
    ensureCaLocked(ca_name);
  }
  if (!fileExists(layout_.crl())) writeCrl();
}

void Pki::ensureCaLocked(const std::string& ca_name) {
  bool has_cert = fileExists(layout_.caCert());
  bool has_key = fileExists(layout_.caKey());
  if (has_cert != has_key) {
    throw PkiError((has_cert ? layout_.caKey() : layout_.caCert()).string() +
                   ": is missing while its other half exists; restore it from a backup (a new "
                   "CA would invalidate every issued profile)");
  }
  if (has_cert) {
    auto cert = loadCert(layout_.caCert());
    auto key = loadKey(layout_.caKey());
    checkPair(cert.get(), key.get(), layout_.caCert(), layout_.caKey());
  } else {
    auto key = newKey();
    auto cert = makeCert(CertKind::kCa, ca_name, key.get(), nullptr, nullptr, now(), kCaDays);
    writeSecret(layout_.caKey(), pemOf(key.get()));
    writePublic(layout_.caCert(), pemOf(cert.get()));
  }
  if (!fileExists(layout_.index())) writeSecret(layout_.index(), formatIndex({}));
}

void Pki::ensureServer(const std::string& server) {
  if (!validName(server)) throw PkiError("\"" + server + "\" is not a valid certificate name");
  FolderLock lock(layout_.lock());
  auto cert_file = layout_.serverCert(server);
  auto key_file = layout_.serverKey(server);
  if (fileExists(cert_file) && fileExists(key_file)) {
    auto cert = loadCert(cert_file);
    auto key = loadKey(key_file);
    checkPair(cert.get(), key.get(), cert_file, key_file);
    return;
  }
  auto ca = loadCert(layout_.caCert());
  auto ca_key = loadKey(layout_.caKey());
  auto key = newKey();
  auto cert =
      makeCert(CertKind::kServer, server, key.get(), ca.get(), ca_key.get(), now(), kServerDays);
  writeSecret(key_file, pemOf(key.get()));
  writePublic(cert_file, pemOf(cert.get()));
}

void Pki::ensureTlsCrypt(const std::string& instance) {
  if (!validName(instance)) throw PkiError("\"" + instance + "\" is not a valid instance name");
  FolderLock lock(layout_.lock());
  auto file = layout_.tlsCryptKey(instance);
  if (fileExists(file)) {
    checkStaticKey(mustRead(file), file);
    return;
  }
  writeSecret(file, generateStaticKey());
}

ClientCredentials Pki::credentials(const std::string& cert_pem, const std::string& key_pem,
                                   const std::string& instance) const {
  auto tls_file = layout_.tlsCryptKey(instance);
  auto tls = mustRead(tls_file);
  checkStaticKey(tls, tls_file);
  auto ca = mustRead(layout_.caCert());
  checkCertificatePem(ca, layout_.caCert());
  return {ca, cert_pem, key_pem, tls};
}

ClientCredentials Pki::issueClient(const std::string& name, const std::string& instance) {
  if (!validName(name)) {
    throw PkiError("\"" + name + "\" is not a valid client name (use [A-Za-z0-9_], 1 to 64)");
  }
  if (name.starts_with("shared_")) {
    throw PkiError("\"" + name + "\": names starting with shared_ are kept for shared profiles");
  }
  std::string cert_pem, key_pem;
  {
    FolderLock lock(layout_.lock());
    auto clients = parseIndex(mustRead(layout_.index()));
    for (const auto& client : clients) {
      if (client.name == name && !client.revoked_at) {
        throw PkiError("client \"" + name + "\" already has a valid certificate (issued for " +
                       client.instance + "); revoke it first");
      }
    }
    auto ca = loadCert(layout_.caCert());
    auto ca_key = loadKey(layout_.caKey());
    auto key = newKey();
    auto cert =
        makeCert(CertKind::kClient, name, key.get(), ca.get(), ca_key.get(), now(), kClientDays);
    clients.push_back(
        {name, instance, serialHex(cert.get()), now(), notAfter(cert.get()), std::nullopt, false});
    writeSecret(layout_.index(), formatIndex(clients));
    cert_pem = pemOf(cert.get());
    key_pem = pemOf(key.get());
  }
  return credentials(cert_pem, key_pem, instance);
}

ClientCredentials Pki::sharedClient(const std::string& instance) {
  if (!validName(instance)) throw PkiError("\"" + instance + "\" is not a valid instance name");
  std::string name = sharedClientName(instance);
  auto cert_file = layout_.sharedCert(instance);
  auto key_file = layout_.sharedKey(instance);
  std::string cert_pem, key_pem;
  {
    FolderLock lock(layout_.lock());
    auto clients = parseIndex(mustRead(layout_.index()));
    bool valid = false;
    for (const auto& client : clients) valid = valid || (client.name == name && !client.revoked_at);
    if (valid && fileExists(cert_file) && fileExists(key_file)) {
      cert_pem = mustRead(cert_file);
      key_pem = mustRead(key_file);
      auto cert = parseCert(cert_pem, cert_file);
      auto key = parseKey(key_pem, key_file);
      checkPair(cert.get(), key.get(), cert_file, key_file);
    } else {
      // Missing or revoked (a leaked shared profile is replaced by revoking it): issue anew.
      auto ca = loadCert(layout_.caCert());
      auto ca_key = loadKey(layout_.caKey());
      auto key = newKey();
      auto cert =
          makeCert(CertKind::kClient, name, key.get(), ca.get(), ca_key.get(), now(), kClientDays);
      for (auto& client : clients) {
        if (client.name == name && !client.revoked_at) client.revoked_at = now();
      }
      clients.push_back(
          {name, instance, serialHex(cert.get()), now(), notAfter(cert.get()), std::nullopt, true});
      cert_pem = pemOf(cert.get());
      key_pem = pemOf(key.get());
      writeSecret(key_file, key_pem);
      writePublic(cert_file, cert_pem);
      writeSecret(layout_.index(), formatIndex(clients));
    }
  }
  return credentials(cert_pem, key_pem, instance);
}

int Pki::revoke(const std::string& name) {
  int count = 0;
  {
    FolderLock lock(layout_.lock());
    auto clients = parseIndex(mustRead(layout_.index()));
    for (auto& client : clients) {
      if (client.name == name && !client.revoked_at) {
        client.revoked_at = now();
        ++count;
      }
    }
    if (count > 0) writeSecret(layout_.index(), formatIndex(clients));
  }
  if (count > 0) writeCrl();
  return count;
}

void Pki::writeCrl() {
  FolderLock lock(layout_.lock());
  auto clients = parseIndex(mustRead(layout_.index()));
  auto ca = loadCert(layout_.caCert());
  auto ca_key = loadKey(layout_.caKey());
  Crl crl(X509_CRL_new());
  std::int64_t t = now();
  Asn1Time last(ASN1_TIME_adj(nullptr, static_cast<time_t>(t), 0, -60));
  Asn1Time next(ASN1_TIME_adj(nullptr, static_cast<time_t>(t), static_cast<int>(kCrlDays), 0));
  if (!crl || !last || !next || X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.get())) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1) {
    fail("cannot make the CRL");
  }
  for (const auto& client : clients) {
    if (!client.revoked_at) continue;
    BIGNUM* raw = nullptr;
    if (BN_hex2bn(&raw, client.serial.c_str()) == 0) {
      throw PkiError(layout_.index().string() + ": client " + client.name + " has a bad serial \"" +
                     client.serial + "\"");
    }
    Bignum bn(raw);
    Asn1Int serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    Asn1Time when(ASN1_TIME_set(nullptr, static_cast<time_t>(*client.revoked_at)));
    X509_REVOKED* revoked = X509_REVOKED_new();
    if (!serial || !when || !revoked || X509_REVOKED_set_serialNumber(revoked, serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(revoked, when.get()) != 1 ||
        X509_CRL_add0_revoked(crl.get(), revoked) != 1) {
      X509_REVOKED_free(revoked);
      fail("cannot add " + client.name + " to the CRL");
    }
  }
  Asn1Int number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set_int64(number.get(), t) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    fail("cannot number the CRL");
  }
  X509_CRL_sort(crl.get());
  if (X509_CRL_sign(crl.get(), ca_key.get(), EVP_sha256()) == 0) fail("cannot sign the CRL");
  writePublic(layout_.crl(), pemOf(crl.get()));
}

std::vector<IssuedClient> Pki::list() const { return parseIndex(mustRead(layout_.index())); }

}  // namespace meshbroker::backends
