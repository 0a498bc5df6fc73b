// The OpenVPN PKI with OpenSSL 3: X509 building and signing, CRLs, PEM I/O; no openssl CLI.
// Why one file of ~1000 lines: every operation here (init, issue, revoke, rotate, migrate, CRL
// refresh) is a sequence of fail-closed writes over the same on-disk layout and index, and their
// order is the security argument (docs/openvpn.md, "Revocation fails closed"); split across
// files, that order could no longer be read in one place. The OpenSSL wrappers it needs are
// small and private to it.
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

#include <algorithm>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "io/file_writer.hpp"
#include "io/unique_fd.hpp"

namespace meshbroker::backends {
namespace {

namespace fs = std::filesystem;

constexpr long kCaDays = 20 * 365;
constexpr long kServerDays = 10 * 365;
constexpr long kClientDays = 10 * 365;

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

constexpr unsigned kSecret = 0600;
constexpr unsigned kPublic = 0644;

// Secrets live under private/ (0700); the rest (CA certificates, trust and CRL files) stays
// readable by the unprivileged user OpenVPN drops to, which reads the CRL on every handshake.
void makeFolders(const PkiLayout& layout) {
  std::error_code ec;
  for (const auto& dir : {layout.dir, layout.dir / "servers", layout.dir / "shared",
                          layout.dir / "ca", layout.dir / "trust", layout.dir / "crl"}) {
    fs::create_directories(dir, ec);
    if (ec) throw PkiError("cannot create folder " + dir.string() + ": " + ec.message());
  }
  for (const auto& dir : {layout.dir / "private", layout.dir / "private" / "servers",
                          layout.dir / "private" / "shared", layout.dir / "private" / "tls-crypt",
                          layout.dir / "private" / "ca"}) {
    fs::create_directories(dir, ec);
    if (ec) throw PkiError("cannot create folder " + dir.string() + ": " + ec.message());
    fs::permissions(dir, fs::perms::owner_all, ec);
  }
}

// Serialises mutations of one PKI folder (two `client add` at once must not lose a record).
class FolderLock {
 public:
  explicit FolderLock(const fs::path& file)
      : fd_(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (!fd_ || ::flock(fd_.get(), LOCK_EX) != 0) {
      throw PkiError("cannot lock " + file.string());
    }
  }

 private:
  io::UniqueFd fd_;  // closing it releases the lock
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

std::int64_t timeOf(const ASN1_TIME* time) {
  struct tm tm {};
  if (!time || ASN1_TIME_to_tm(time, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::int64_t notAfter(X509* cert) { return timeOf(X509_get0_notAfter(cert)); }

std::string hexOf(const ASN1_INTEGER* serial) {
  Bignum bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) fail("cannot read a serial number");
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

// An index serial in the form OpenSSL prints it (upper case, no leading zeros).
std::string normalSerial(const std::string& serial, const fs::path& index, const std::string& who) {
  BIGNUM* raw = nullptr;
  if (serial.empty() || BN_hex2bn(&raw, serial.c_str()) != static_cast<int>(serial.size())) {
    BN_free(raw);
    throw PkiError(index.string() + ": client " + who + " has a bad serial \"" + serial + "\"");
  }
  Bignum bn(raw);
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex);
  OPENSSL_free(hex);
  return out;
}

// Revoked serial (hex) -> revocation time.
using Entries = std::map<std::string, std::int64_t>;

// Every CRL in a PEM file; none when the file does not exist. A file that exists but holds a
// CRL that cannot be read throws: its revocations must never be dropped silently.
std::vector<Crl> readCrls(const fs::path& file) {
  auto text = readFile(file);
  if (!text) return {};
  std::size_t expected = 0;
  for (auto at = text->find("-----BEGIN X509 CRL-----"); at != std::string::npos;
       at = text->find("-----BEGIN X509 CRL-----", at + 1)) {
    ++expected;
  }
  std::vector<Crl> out;
  Bio bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(crl);
  }
  ERR_clear_error();
  if (out.empty() || out.size() != expected) {
    throw PkiError(file.string() +
                   ": holds a malformed CRL; nothing was changed. Restore it from a backup or "
                   "another server (a new CRL would forget the revocations it holds)");
  }
  return out;
}

// Whether ca issued crl (its name, and a signature by its key).
bool issuedBy(X509_CRL* crl, X509* ca) {
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) != 0) return false;
  bool ok = X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;
  ERR_clear_error();
  return ok;
}

void addEntries(X509_CRL* crl, Entries& entries) {
  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
  for (int i = 0; i < sk_X509_REVOKED_num(revoked); ++i) {
    X509_REVOKED* entry = sk_X509_REVOKED_value(revoked, i);
    entries.emplace(hexOf(X509_REVOKED_get0_serialNumber(entry)),
                    timeOf(X509_REVOKED_get0_revocationDate(entry)));
  }
}

// The entries of the CRLs in file, one Entries per CA of cas (by issuer). A CRL that none of
// them issued throws: the file belongs to another CA, and guessing could drop revocations.
// seen, if given, counts the CRLs of each CA.
std::vector<Entries> oldEntries(const fs::path& file, const std::vector<X509*>& cas,
                                std::vector<int>* seen = nullptr) {
  std::vector<Entries> out(cas.size());
  if (seen) seen->assign(cas.size(), 0);
  for (const auto& crl : readCrls(file)) {
    bool matched = false;
    for (std::size_t i = 0; i < cas.size() && !matched; ++i) {
      if (issuedBy(crl.get(), cas[i])) {
        addEntries(crl.get(), out[i]);
        if (seen) ++(*seen)[i];
        matched = true;
      }
    }
    if (!matched) {
      char name[256] = "";
      X509_NAME_oneline(X509_CRL_get_issuer(crl.get()), name, sizeof name);
      throw PkiError(file.string() + ": holds a CRL of \"" + name +
                     "\" that no CA of this PKI signed; nothing was changed (restore the CA "
                     "that made it, or move the file away knowing its revocations are lost)");
    }
  }
  return out;
}

void addRevoked(X509_CRL* crl, const std::string& serial_hex, std::int64_t when_revoked) {
  BIGNUM* raw = nullptr;
  if (BN_hex2bn(&raw, serial_hex.c_str()) == 0) fail("bad serial " + serial_hex);
  Bignum bn(raw);
  Asn1Int serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  Asn1Time when(ASN1_TIME_set(nullptr, static_cast<time_t>(when_revoked)));
  X509_REVOKED* revoked = X509_REVOKED_new();
  if (!serial || !when || !revoked || X509_REVOKED_set_serialNumber(revoked, serial.get()) != 1 ||
      X509_REVOKED_set_revocationDate(revoked, when.get()) != 1 ||
      X509_CRL_add0_revoked(crl, revoked) != 1) {
    X509_REVOKED_free(revoked);
    fail("cannot add serial " + serial_hex + " to the CRL");
  }
}

// A CRL signed by ca: valid from last_update (normally a day before now, so that a server clock
// behind ours still accepts it) until kCrlLifetimeSeconds after now; its CRL number is
// last_update + kCrlBackdateSeconds, so it grows with last_update.
std::string makeCrlPem(X509* ca, EVP_PKEY* ca_key, const Entries& entries, std::int64_t now,
                       std::int64_t last_update) {
  Crl crl(X509_CRL_new());
  Asn1Time last(ASN1_TIME_set(nullptr, static_cast<time_t>(last_update)));
  Asn1Time next(
      ASN1_TIME_adj(nullptr, static_cast<time_t>(now), 0, static_cast<long>(kCrlLifetimeSeconds)));
  if (!crl || !last || !next || X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca)) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1) {
    fail("cannot make a CRL");
  }
  for (const auto& [serial, when_revoked] : entries) addRevoked(crl.get(), serial, when_revoked);
  Asn1Int number(ASN1_INTEGER_new());
  if (!number || ASN1_INTEGER_set_int64(number.get(), last_update + kCrlBackdateSeconds) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, number.get(), 0, 0) != 1) {
    fail("cannot number the CRL");
  }
  X509_CRL_sort(crl.get());
  if (X509_CRL_sign(crl.get(), ca_key, EVP_sha256()) == 0) fail("cannot sign the CRL");
  return pemOf(crl.get());
}

std::string commonName(X509* cert) {
  char name[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof name);
  return name;
}

bool validName(const std::string& name);

// The instances with a client CA (ca/X.crt) or a CRL file (crl/X.pem) in the folder.
std::set<std::string> instancesOnDisk(const PkiLayout& layout) {
  std::set<std::string> out;
  for (const auto& [dir, extension] :
       {std::pair{layout.dir / "ca", ".crt"}, std::pair{layout.dir / "crl", ".pem"}}) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      auto stem = entry.path().stem().string();
      if (entry.path().extension() == extension && validName(stem)) out.insert(stem);
    }
  }
  return out;
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
  // Valid from a day back, like the CRLs: a server whose clock is behind accepts a new client.
  time_t at = static_cast<time_t>(now);  // 32 bits on some routers' ABIs (Debian's mipsel)
  if (!X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, -static_cast<long>(kCrlBackdateSeconds),
                        &at) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(days), 0, &at)) {
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
      // Records written before instance CAs existed have no issuer: the network CA signed them.
      std::string issuer = item.value("issuer", std::string("network"));
      if (issuer != "network" && issuer != "instance") {
        throw PkiError("issuer \"" + issuer + "\" is neither network nor instance");
      }
      client.issuer = issuer == "network" ? Issuer::kNetwork : Issuer::kInstance;
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
    nlohmann::json item = {{"name", client.name},
                           {"instance", client.instance},
                           {"serial", client.serial},
                           {"issued_at", client.issued_at},
                           {"not_after", client.not_after},
                           {"shared", client.shared},
                           {"issuer", client.issuer == Issuer::kNetwork ? "network" : "instance"}};
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

bool crlRefreshDue(std::optional<std::int64_t> next_update, std::int64_t now) {
  return !next_update || *next_update - now < kCrlRefreshBelowSeconds;
}

std::optional<std::int64_t> crlNextUpdate(const fs::path& file) {
  auto crls = readCrls(file);
  if (crls.empty()) {
    if (!fileExists(file)) return std::nullopt;
    throw PkiError(file.string() + ": holds no CRL");
  }
  std::optional<std::int64_t> earliest;
  for (const auto& crl : crls) {
    // A CRL without nextUpdate never expires for OpenSSL; ours always have one.
    const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl.get());
    if (!next) continue;
    std::int64_t t = timeOf(next);
    if (!earliest || t < *earliest) earliest = t;
  }
  return earliest;
}

std::map<std::string, std::string> revokedNamesIn(std::string_view text) {
  std::map<std::string, std::string> out;
  constexpr std::string_view kPrefix = "# revoked ";
  while (!text.empty()) {
    auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.starts_with("-----BEGIN")) break;  // the header ends where the PEM blocks start
    if (!line.starts_with(kPrefix)) continue;
    line.remove_prefix(kPrefix.size());
    auto space = line.find(' ');
    if (space == std::string_view::npos) continue;
    std::string serial(line.substr(0, space));
    std::string name(line.substr(space + 1));
    bool hex = !serial.empty() && serial.size() <= 64 &&
               serial.find_first_not_of("0123456789ABCDEF") == std::string::npos;
    if (hex && validName(name)) out[serial] = name;
  }
  return out;
}

std::string crlAdvice(std::optional<std::int64_t> next_update, std::int64_t now, bool holder) {
  const std::string source =
      holder ? "meshbroker refreshes them here each day; see the errors above"
             : "refresh them on the CA holder (meshbroker does it daily, or: meshbroker client "
               "init) and copy its crl.pem and crl/ here";
  if (!next_update) return "a CRL file is missing: OpenVPN cannot start that instance; " + source;
  std::int64_t left = *next_update - now;
  if (left <= 0) {
    return "the CRLs expired " + std::to_string(-left / 3600) +
           " h ago: OpenVPN refuses every client; " + source;
  }
  if (left < kCrlWarnBelowSeconds) {
    return "the CRLs expire in " + std::to_string(left / 3600) +
           " h: OpenVPN will then refuse every client; " + source;
  }
  return "";
}

namespace {

// The comment lines an instance's CRL file opens with (revokedNamesIn reads them back).
std::string revokedNamesHeader(const std::string& instance,
                               const std::map<std::string, std::string>& names) {
  std::string out = "# meshbroker: the CRLs of OpenVPN instance " + instance +
                    ". OpenVPN reads the PEM blocks; meshbroker\n"
                    "# also reads these lines, to end the sessions of the revoked:\n";
  for (const auto& [serial, name] : names) out += "# revoked " + serial + " " + name + "\n";
  return out;
}

std::string headerOf(const std::string& text) {
  auto begin = text.find("-----BEGIN");
  return begin == std::string::npos ? text : text.substr(0, begin);
}

// The lastUpdate of the CRLs that replace file's: strictly after every CRL file holds, and never
// after now. OpenVPN 2.6 keeps some CRLs of earlier loads in its certificate store (its reload
// deletes from the list it walks, skipping every other CRL), and OpenSSL checks a certificate
// against the newest CRL of its issuer, the first one it finds among equals. Two CRLs made in
// the same second were equals: a client revoked a moment after another one was let in again
// (found by openvpn_access in CI, reproduced 1 in 8 runs).
std::int64_t nextLastUpdate(const fs::path& file, std::int64_t now) {
  std::int64_t last = now - kCrlBackdateSeconds;
  for (const auto& crl : readCrls(file)) {
    last = std::max(last, timeOf(X509_CRL_get0_lastUpdate(crl.get())) + 1);
  }
  return std::min(last, now);
}

// Whether file already says what a rewrite would: one CRL of each CA, the same entries, and
// not yet due for a refresh. Then it is left alone, so a CRL changes only when a revocation
// does (or it ages): a copy of it (Ansible's, a registry's) stays the same, and openvpn has
// nothing to reload.
bool crlFileCurrent(const fs::path& file, const std::vector<int>& seen,
                    const std::vector<Entries>& old, const std::vector<const Entries*>& wanted,
                    std::int64_t now) {
  if (!fileExists(file)) return false;
  for (std::size_t i = 0; i < wanted.size(); ++i) {
    if (seen.at(i) != 1 || old.at(i) != *wanted[i]) return false;
  }
  return !crlRefreshDue(crlNextUpdate(file), now);
}

}  // namespace

Pki::Pki(fs::path dir, Clock now, Writer writer)
    : layout_{std::move(dir)}, now_(std::move(now)), writer_(std::move(writer)) {}

std::int64_t Pki::now() const { return now_ ? now_() : systemNow(); }

void Pki::put(const fs::path& path, const std::string& text, unsigned mode) const {
  try {
    if (writer_) {
      writer_(path, text, mode);
    } else {
      io::writeFileAtomically(path, text, mode);
    }
  } catch (const PkiError&) {
    throw;
  } catch (const std::exception& e) {
    throw PkiError(e.what());
  }
}

// The index is the only record of which certificate belongs to whom and to which instance. It
// is made together with the CA and nowhere else: where the CA key is and the index is not, a new
// empty one would let the next CRL forget every revocation, so every operation stops here.
std::vector<IssuedClient> Pki::readIndex() const {
  auto text = readFile(layout_.index());
  if (!text) {
    if (fileExists(layout_.caKey())) {
      auto index = layout_.index().string();
      throw PkiError(
          index + ": is missing next to the CA key " + layout_.caKey().string() +
          "; nothing was changed. Restore it from a backup. Without one, start an empty index "
          "by hand (printf '{\"clients\": []}\\n' > " +
          index + "; chmod 600 " + index +
          "): the CRL files keep every revocation they hold, but certificates issued and not "
          "revoked are then unknown and cannot be revoked by name");
    }
    return {};
  }
  return parseIndex(*text);
}

void Pki::ensureCa(const std::string& ca_name) {
  makeFolders(layout_);
  FolderLock lock(layout_.lock());
  ensureCaLocked(ca_name);
  if (!fileExists(layout_.crl())) writeCrlsLocked(readIndex());
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
    readIndex();  // a CA without its index stops here, before anything is written
    return;
  }
  // A new CA: its (empty) index first, so a CA never exists without one.
  if (auto text = readFile(layout_.index())) {
    auto clients = parseIndex(*text);
    if (!clients.empty()) {
      throw PkiError(layout_.index().string() + ": lists " + std::to_string(clients.size()) +
                     " certificates but the CA (" + layout_.caCert().string() +
                     ") is missing; restore it and its key from a backup");
    }
  } else {
    put(layout_.index(), formatIndex({}), kSecret);
  }
  auto key = newKey();
  auto cert = makeCert(CertKind::kCa, ca_name, key.get(), nullptr, nullptr, now(), kCaDays);
  put(layout_.caKey(), pemOf(key.get()), kSecret);
  put(layout_.caCert(), pemOf(cert.get()), kPublic);
}

void Pki::ensureInstanceCaLocked(const std::string& instance) {
  if (!validName(instance)) throw PkiError("\"" + instance + "\" is not a valid instance name");
  auto cert_file = layout_.instanceCaCert(instance);
  auto key_file = layout_.instanceCaKey(instance);
  bool has_cert = fileExists(cert_file);
  bool has_key = fileExists(key_file);
  if (has_cert != has_key) {
    throw PkiError((has_cert ? key_file : cert_file).string() +
                   ": is missing while its other half exists; restore it from a backup (a new "
                   "CA would invalidate every profile of instance " +
                   instance + ")");
  }
  if (has_cert) {
    auto cert = loadCert(cert_file);
    auto key = loadKey(key_file);
    checkPair(cert.get(), key.get(), cert_file, key_file);
    return;
  }
  auto network = loadCert(layout_.caCert());
  auto key = newKey();
  auto cert = makeCert(CertKind::kCa, commonName(network.get()) + ": " + instance + " clients",
                       key.get(), nullptr, nullptr, now(), kCaDays);
  put(key_file, pemOf(key.get()), kSecret);
  put(cert_file, pemOf(cert.get()), kPublic);
}

void Pki::ensureInstance(const std::string& instance) {
  if (!validName(instance)) throw PkiError("\"" + instance + "\" is not a valid instance name");
  makeFolders(layout_);
  FolderLock lock(layout_.lock());
  auto clients = readIndex();
  ensureInstanceCaLocked(instance);
  if (!fileExists(layout_.instanceCrl(instance)) || !fileExists(layout_.instanceTrust(instance))) {
    writeCrlsLocked(clients, {instance});
  }
}

// Every CRL file from the index and the old files, then the trust files. Per instance X:
// - X's client CA's CRL: the old entries, and every revoked certificate that CA signed;
// - the network CA's CRL for X: the old entries (of this file and of crl.pem), every revoked
//   legacy certificate, and every legacy certificate issued for another instance (so the
//   shared certificate of a public instance, or a private user of another group, is refused
//   by X while X still trusts the network CA for its own legacy users).
// crl.pem is the network CA's CRL of revocations only. Nothing written here drops an entry.
void Pki::writeCrlsLocked(const std::vector<IssuedClient>& clients,
                          const std::vector<std::string>& extra_instances) {
  auto network = loadCert(layout_.caCert());
  auto network_key = loadKey(layout_.caKey());
  std::int64_t t = now();

  auto names = instancesOnDisk(layout_);
  names.insert(extra_instances.begin(), extra_instances.end());
  for (const auto& client : clients) names.insert(client.instance);

  std::vector<int> global_seen;
  auto global_old = oldEntries(layout_.crl(), {network.get()}, &global_seen);
  Entries global = global_old[0];
  for (const auto& client : clients) {
    if (client.issuer == Issuer::kNetwork && client.revoked_at) {
      global.emplace(normalSerial(client.serial, layout_.index(), client.name), *client.revoked_at);
    }
  }

  std::vector<std::pair<fs::path, std::string>> crl_files, trust_files;
  for (const auto& name : names) {
    ensureInstanceCaLocked(name);
    auto ca = loadCert(layout_.instanceCaCert(name));
    auto ca_key = loadKey(layout_.instanceCaKey(name));
    std::vector<int> seen;
    auto old = oldEntries(layout_.instanceCrl(name), {ca.get(), network.get()}, &seen);
    Entries own = old[0];
    Entries legacy = old[1];
    legacy.insert(global.begin(), global.end());
    // Who holds each revoked certificate of this instance: the names the file had (the index
    // may have lost a record; an entry is never dropped), and the index's.
    auto old_text = readFile(layout_.instanceCrl(name));
    auto revoked_names =
        old_text ? revokedNamesIn(*old_text) : std::map<std::string, std::string>{};
    bool trusts_network = false;
    for (const auto& client : clients) {
      auto serial = normalSerial(client.serial, layout_.index(), client.name);
      if (client.instance == name && client.revoked_at) revoked_names[serial] = client.name;
      if (client.issuer == Issuer::kInstance) {
        if (client.instance == name && client.revoked_at) own.emplace(serial, *client.revoked_at);
      } else if (client.instance != name) {
        legacy.emplace(serial, client.revoked_at.value_or(client.issued_at));
      } else if (!client.revoked_at) {
        trusts_network = true;
      }
    }
    auto header = revokedNamesHeader(name, revoked_names);
    if (!old_text || headerOf(*old_text) != header ||
        !crlFileCurrent(layout_.instanceCrl(name), seen, old, {&own, &legacy}, t)) {
      auto last_update = nextLastUpdate(layout_.instanceCrl(name), t);
      crl_files.emplace_back(
          layout_.instanceCrl(name),
          header + makeCrlPem(ca.get(), ca_key.get(), own, t, last_update) +
              makeCrlPem(network.get(), network_key.get(), legacy, t, last_update));
    }
    auto trust = pemOf(ca.get()) + (trusts_network ? pemOf(network.get()) : "");
    if (readFile(layout_.instanceTrust(name)) != trust) {
      trust_files.emplace_back(layout_.instanceTrust(name), std::move(trust));
    }
  }
  for (const auto& [file, text] : crl_files) put(file, text, kPublic);
  if (!crlFileCurrent(layout_.crl(), global_seen, global_old, {&global}, t)) {
    put(layout_.crl(),
        makeCrlPem(network.get(), network_key.get(), global, t, nextLastUpdate(layout_.crl(), t)),
        kPublic);
  }
  // A trust file only loses the network CA (when an instance's last legacy user is revoked).
  for (const auto& [file, text] : trust_files) put(file, text, kPublic);
}

void Pki::ensureServer(const std::string& server) {
  if (!validName(server)) throw PkiError("\"" + server + "\" is not a valid certificate name");
  makeFolders(layout_);
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
  put(key_file, pemOf(key.get()), kSecret);
  put(cert_file, pemOf(cert.get()), kPublic);
}

void Pki::ensureTlsCrypt(const std::string& instance) {
  if (!validName(instance)) throw PkiError("\"" + instance + "\" is not a valid instance name");
  makeFolders(layout_);
  FolderLock lock(layout_.lock());
  auto file = layout_.tlsCryptKey(instance);
  if (fileExists(file)) {
    checkStaticKey(mustRead(file), file);
    return;
  }
  put(file, generateStaticKey(), kSecret);
}

ClientCredentials Pki::credentials(const std::string& cert_pem, const std::string& key_pem,
                                   const std::string& instance) const {
  auto tls_file = layout_.tlsCryptKey(instance);
  auto tls = mustRead(tls_file);
  checkStaticKey(tls, tls_file);
  // The profile verifies servers, whose certificates the network CA signs.
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
  if (!validName(instance)) throw PkiError("\"" + instance + "\" is not a valid instance name");
  makeFolders(layout_);
  std::string cert_pem, key_pem;
  {
    FolderLock lock(layout_.lock());
    auto clients = readIndex();
    for (const auto& client : clients) {
      if (client.name == name && !client.revoked_at) {
        throw PkiError("client \"" + name + "\" already has a valid certificate (issued for " +
                       client.instance + "); revoke it first");
      }
    }
    ensureInstanceCaLocked(instance);
    if (!fileExists(layout_.instanceCrl(instance)) ||
        !fileExists(layout_.instanceTrust(instance))) {
      writeCrlsLocked(clients, {instance});
    }
    auto ca = loadCert(layout_.instanceCaCert(instance));
    auto ca_key = loadKey(layout_.instanceCaKey(instance));
    auto key = newKey();
    auto cert =
        makeCert(CertKind::kClient, name, key.get(), ca.get(), ca_key.get(), now(), kClientDays);
    clients.push_back({name, instance, serialHex(cert.get()), now(), notAfter(cert.get()),
                       std::nullopt, false, Issuer::kInstance});
    put(layout_.index(), formatIndex(clients), kSecret);
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
  makeFolders(layout_);
  std::string cert_pem, key_pem;
  {
    FolderLock lock(layout_.lock());
    auto clients = readIndex();
    ensureInstanceCaLocked(instance);
    if (!fileExists(layout_.instanceCrl(instance)) ||
        !fileExists(layout_.instanceTrust(instance))) {
      writeCrlsLocked(clients, {instance});
    }
    // The current shared certificate: the files, if they pair and a valid record has their serial.
    bool current = false;
    if (fileExists(cert_file) && fileExists(key_file)) {
      cert_pem = mustRead(cert_file);
      key_pem = mustRead(key_file);
      auto cert = parseCert(cert_pem, cert_file);
      auto key = parseKey(key_pem, key_file);
      bool pairs = X509_check_private_key(cert.get(), key.get()) == 1;
      ERR_clear_error();
      auto serial = serialHex(cert.get());
      for (const auto& client : clients) {
        current = current || (pairs && client.name == name && client.instance == instance &&
                              !client.revoked_at && client.serial == serial);
      }
    }
    if (!current) {
      // Missing, revoked, or half written: every valid shared record of the instance is revoked
      // (in the CRL first), then the new one is recorded before its key exists.
      for (auto& client : clients) {
        if (client.name == name && !client.revoked_at) client.revoked_at = now();
      }
      auto ca = loadCert(layout_.instanceCaCert(instance));
      auto ca_key = loadKey(layout_.instanceCaKey(instance));
      auto key = newKey();
      auto cert =
          makeCert(CertKind::kClient, name, key.get(), ca.get(), ca_key.get(), now(), kClientDays);
      writeCrlsLocked(clients);
      clients.push_back({name, instance, serialHex(cert.get()), now(), notAfter(cert.get()),
                         std::nullopt, true, Issuer::kInstance});
      put(layout_.index(), formatIndex(clients), kSecret);
      cert_pem = pemOf(cert.get());
      key_pem = pemOf(key.get());
      put(key_file, key_pem, kSecret);
      put(cert_file, cert_pem, kPublic);
    }
  }
  return credentials(cert_pem, key_pem, instance);
}

RevokeResult Pki::revoke(const std::string& name) {
  RevokeResult result;
  makeFolders(layout_);
  FolderLock lock(layout_.lock());
  auto clients = readIndex();
  for (auto& client : clients) {
    if (client.name != name) continue;
    if (client.revoked_at) {
      ++result.already_revoked;
    } else {
      client.revoked_at = now();
      ++result.revoked;
    }
  }
  if (result.revoked + result.already_revoked == 0) return result;
  // The CRLs first: until the index says so too, a retry sees the certificate valid and
  // revokes it again; the other order would leave it recorded revoked and not enforced.
  writeCrlsLocked(clients);
  if (result.revoked > 0) put(layout_.index(), formatIndex(clients), kSecret);
  return result;
}

void Pki::writeCrl() {
  makeFolders(layout_);
  FolderLock lock(layout_.lock());
  writeCrlsLocked(readIndex());
}

std::vector<std::string> Pki::instances() const {
  auto names = instancesOnDisk(layout_);
  if (auto text = readFile(layout_.index())) {
    for (const auto& client : parseIndex(*text)) names.insert(client.instance);
  }
  return {names.begin(), names.end()};
}

std::optional<std::int64_t> Pki::crlNextUpdate() const {
  std::optional<std::int64_t> earliest = backends::crlNextUpdate(layout_.crl());
  for (const auto& instance : instances()) {
    auto next = backends::crlNextUpdate(layout_.instanceCrl(instance));
    if (!next) return std::nullopt;  // a missing CRL file: OpenVPN cannot start that instance
    if (!earliest || *next < *earliest) earliest = next;
  }
  return earliest;
}

bool Pki::holdsCaKey() const { return fileExists(layout_.caKey()); }

bool Pki::refreshCrlIfDue() {
  if (!fileExists(layout_.caKey())) return false;
  auto next = fileExists(layout_.crl()) ? crlNextUpdate() : std::nullopt;
  if (!crlRefreshDue(next, now())) return false;
  writeCrl();
  return true;
}

std::vector<IssuedClient> Pki::list() const { return readIndex(); }

}  // namespace meshbroker::backends
