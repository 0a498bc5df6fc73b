// The OpenVPN PKI: certificates that verify only on their own instance, CRLs that list the
// revoked and never forget one (missing index, full disk, a crash between two writes), CRL
// timing and refresh, an index that survives a restart, 0600 secrets, and clear errors.
#include "backends/pki.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "io/file_writer.hpp"
#include "unit/test_support.hpp"

namespace meshbroker::backends {
namespace {

namespace fs = std::filesystem;

class PkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mb-pki-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Pki make() {
    return Pki(dir_, [this] { return now_; });
  }
  unsigned modeOf(const fs::path& path) {
    struct stat st {};
    ::stat(path.c_str(), &st);
    return st.st_mode & 07777;
  }
  void write(const fs::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  }

  fs::path dir_;
  std::int64_t now_ = 1790000000;
};

X509* readCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return cert;
}

// Verifies a client certificate the way an OpenVPN server does: against its `ca` file (every
// certificate in it), with every CRL of its `crl-verify` file, CRL checks on the whole chain,
// the TLS client purpose (remote-cert-tls client), at time `at`.
int verifyWithCrls(const fs::path& trust, const std::string& crl_text, const std::string& cert_pem,
                   std::int64_t at, int purpose = X509_PURPOSE_SSL_CLIENT) {
  X509_STORE* store = X509_STORE_new();
  auto trust_text = meshbroker::testing::readText(trust);
  BIO* bio = BIO_new_mem_buf(trust_text.data(), static_cast<int>(trust_text.size()));
  while (X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, ca);
    X509_free(ca);
  }
  BIO_free(bio);
  bio = BIO_new_mem_buf(crl_text.data(), static_cast<int>(crl_text.size()));
  while (X509_CRL* list = PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_crl(store, list);
    X509_CRL_free(list);
  }
  BIO_free(bio);
  ERR_clear_error();
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  X509* cert = readCert(cert_pem);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert, nullptr);
  X509_STORE_CTX_set_purpose(ctx, purpose);
  X509_STORE_CTX_set_time(ctx, 0, static_cast<time_t>(at));
  int ok = X509_verify_cert(ctx);
  int error = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(cert);
  return error;
}

int verifyAt(const fs::path& trust, const fs::path& crl, const std::string& cert_pem,
             std::int64_t at, int purpose = X509_PURPOSE_SSL_CLIENT) {
  return verifyWithCrls(trust, meshbroker::testing::readText(crl), cert_pem, at, purpose);
}

// The lastUpdate of every CRL in a PEM text, in order.
std::vector<std::int64_t> lastUpdates(const std::string& text) {
  std::vector<std::int64_t> out;
  BIO* bio = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr)) {
    struct tm tm {};
    ASN1_TIME_to_tm(X509_CRL_get0_lastUpdate(crl), &tm);
    out.push_back(static_cast<std::int64_t>(timegm(&tm)));
    X509_CRL_free(crl);
  }
  BIO_free(bio);
  ERR_clear_error();
  return out;
}

// Whether the certificate is accepted by the server of instance (its trust and CRL files).
bool accepted(const Pki& pki, const std::string& instance, const std::string& cert_pem,
              std::int64_t at) {
  return verifyAt(pki.layout().instanceTrust(instance), pki.layout().instanceCrl(instance),
                  cert_pem, at) == X509_V_OK;
}

struct Legacy {
  std::string pem, serial, key;
};

// A client certificate signed by the network CA itself, as every version before instance CAs
// issued them (a "legacy" certificate).
Legacy legacyCert(const PkiLayout& layout, const std::string& name, std::int64_t now) {
  auto ca_text = meshbroker::testing::readText(layout.caCert());
  auto key_text = meshbroker::testing::readText(layout.caKey());
  X509* ca = readCert(ca_text);
  BIO* bio = BIO_new_mem_buf(key_text.data(), static_cast<int>(key_text.size()));
  EVP_PKEY* ca_key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  BIGNUM* serial = BN_new();
  BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert));
  char* hex = BN_bn2hex(serial);
  std::string serial_hex = hex;
  OPENSSL_free(hex);
  BN_free(serial);
  time_t t = static_cast<time_t>(now);
  X509_time_adj_ex(X509_getm_notBefore(cert), 0, -3600, &t);
  X509_time_adj_ex(X509_getm_notAfter(cert), 3650, 0, &t);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(ca));
  X509_set_pubkey(cert, key);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, ca, cert, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
                            std::pair{NID_key_usage, "critical,digitalSignature,keyAgreement"},
                            std::pair{NID_ext_key_usage, "clientAuth"},
                            std::pair{NID_authority_key_identifier, "keyid:always"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert, ca_key, EVP_sha256());
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  length = BIO_get_mem_data(bio, &data);
  std::string key_pem(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  X509_free(cert);
  X509_free(ca);
  EVP_PKEY_free(key);
  EVP_PKEY_free(ca_key);
  return {pem, serial_hex, key_pem};
}

// A writer that works like the real one until its fail_at-th call (0-based), which fails like
// a full disk and leaves the file as it was.
struct FailingWriter {
  int calls = 0;
  int fail_at = -1;
  std::vector<fs::path> written;
  Pki::Writer writer() {
    return [this](const fs::path& path, const std::string& text, unsigned mode) {
      if (calls++ == fail_at) throw io::WriteError("cannot write " + path.string() + ": disk full");
      io::writeFileAtomically(path, text, mode);
      written.push_back(path);
    };
  }
};

TEST_F(PkiTest, MakesCaServerAndTlsCryptWithPrivateModes) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureServer("chip_public");
  pki.ensureTlsCrypt("public");
  pki.ensureInstance("public");
  const auto& layout = pki.layout();
  EXPECT_EQ(modeOf(layout.caKey()), 0600u);
  EXPECT_EQ(modeOf(layout.serverKey("chip_public")), 0600u);
  EXPECT_EQ(modeOf(layout.tlsCryptKey("public")), 0600u);
  EXPECT_EQ(modeOf(layout.instanceCaKey("public")), 0600u);
  EXPECT_EQ(modeOf(layout.index()), 0600u);
  EXPECT_EQ(modeOf(dir_ / "private"), 0700u);
  EXPECT_EQ(modeOf(dir_ / "private" / "ca"), 0700u);
  EXPECT_EQ(modeOf(layout.crl()), 0644u);
  EXPECT_EQ(modeOf(layout.instanceCrl("public")), 0644u);
  EXPECT_EQ(modeOf(layout.instanceTrust("public")), 0644u);
  auto server = meshbroker::testing::readText(layout.serverCert("chip_public"));
  EXPECT_EQ(verifyAt(layout.caCert(), layout.crl(), server, now_, X509_PURPOSE_SSL_SERVER),
            X509_V_OK);
  EXPECT_NO_THROW(checkStaticKey(meshbroker::testing::readText(layout.tlsCryptKey("public")),
                                 layout.tlsCryptKey("public")));
  EXPECT_NE(meshbroker::testing::readText(layout.caKey()).find("BEGIN PRIVATE KEY"),
            std::string::npos);
  // A fresh PKI: the instance trusts its own client CA only, not the network CA.
  EXPECT_EQ(meshbroker::testing::readText(layout.instanceTrust("public")),
            meshbroker::testing::readText(layout.instanceCaCert("public")));
}

TEST_F(PkiTest, EnsureKeepsWhatExists) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureServer("chip_public");
  pki.ensureInstance("public");
  auto ca = meshbroker::testing::readText(pki.layout().caCert());
  auto server = meshbroker::testing::readText(pki.layout().serverCert("chip_public"));
  auto client_ca = meshbroker::testing::readText(pki.layout().instanceCaCert("public"));
  auto again = make();
  again.ensureCa("test CA");
  again.ensureServer("chip_public");
  again.ensureInstance("public");
  EXPECT_EQ(meshbroker::testing::readText(pki.layout().caCert()), ca);
  EXPECT_EQ(meshbroker::testing::readText(pki.layout().serverCert("chip_public")), server);
  EXPECT_EQ(meshbroker::testing::readText(pki.layout().instanceCaCert("public")), client_ca);
}

TEST_F(PkiTest, IssueRevokeAndCrl) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureTlsCrypt("private");
  auto alice = pki.issueClient("alice", "private");
  auto bob = pki.issueClient("bob", "private");
  EXPECT_NE(alice.key_pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_NE(alice.tls_crypt_key.find("BEGIN OpenVPN Static key V1"), std::string::npos);
  // The profile's <ca> verifies servers: the network CA.
  EXPECT_EQ(alice.ca_pem, meshbroker::testing::readText(pki.layout().caCert()));
  EXPECT_TRUE(accepted(pki, "private", alice.cert_pem, now_));

  EXPECT_THROW(pki.issueClient("alice", "private"), PkiError);  // still valid
  now_ += 60;
  auto revoked = pki.revoke("alice");
  EXPECT_EQ(revoked.revoked, 1);
  EXPECT_EQ(revoked.already_revoked, 0);
  auto again = pki.revoke("alice");
  EXPECT_EQ(again.revoked, 0);
  EXPECT_EQ(again.already_revoked, 1);
  EXPECT_EQ(verifyAt(pki.layout().instanceTrust("private"), pki.layout().instanceCrl("private"),
                     alice.cert_pem, now_),
            X509_V_ERR_CERT_REVOKED);
  EXPECT_TRUE(accepted(pki, "private", bob.cert_pem, now_));
  EXPECT_EQ(pki.revoke("nobody").revoked + pki.revoke("nobody").already_revoked, 0);

  // A new Pki (a restart) reads the same records; alice may be issued again.
  auto after = make();
  auto list = after.list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "alice");
  EXPECT_EQ(list[0].revoked_at, std::optional<std::int64_t>(1790000060));
  EXPECT_EQ(list[0].issuer, Issuer::kInstance);
  EXPECT_FALSE(list[1].revoked_at);
  EXPECT_NO_THROW(after.issueClient("alice", "private"));
  EXPECT_EQ(after.list().size(), 3u);
}

// OpenVPN 2.6 keeps some CRLs of earlier loads in its store (its reload skips every other one
// it deletes), and OpenSSL then takes the newest CRL of the issuer, or the first it meets of
// equals. The attack: bob is revoked in the same second as carol, and reconnects to a server
// whose store still holds the CRL that revoked only carol.
TEST_F(PkiTest, ACrlIsNewerThanTheOneItReplacesEvenInTheSameSecond) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureTlsCrypt("private");
  auto carol = pki.issueClient("carol", "private");
  auto bob = pki.issueClient("bob", "private");
  auto dave = pki.issueClient("dave", "private");
  const auto crl = pki.layout().instanceCrl("private");
  const auto trust = pki.layout().instanceTrust("private");
  pki.revoke("carol");
  auto first = meshbroker::testing::readText(crl);
  pki.revoke("bob");  // the same second (the clock has not moved)
  auto second = meshbroker::testing::readText(crl);
  pki.revoke("dave");
  auto third = meshbroker::testing::readText(crl);

  auto a = lastUpdates(first), b = lastUpdates(second), c = lastUpdates(third);
  ASSERT_EQ(a.size(), 2u);  // the instance CA's and the network CA's
  ASSERT_EQ(b.size(), 2u);
  ASSERT_EQ(c.size(), 2u);
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_LT(a[i], b[i]);
    EXPECT_LT(b[i], c[i]);
    EXPECT_LE(c[i], now_);  // never from the future: OpenSSL would skip it for an older one
    EXPECT_GE(a[i], now_ - kCrlBackdateSeconds);
  }
  // Whatever order a server's store holds the stale and the current CRLs in, bob is refused.
  EXPECT_EQ(verifyWithCrls(trust, first + second, bob.cert_pem, now_), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(verifyWithCrls(trust, second + first, bob.cert_pem, now_), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(verifyWithCrls(trust, third + first + second, dave.cert_pem, now_),
            X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(verifyWithCrls(trust, first + second + third, dave.cert_pem, now_),
            X509_V_ERR_CERT_REVOKED);

  // A day later the CRLs start from the usual backdated lastUpdate again.
  now_ += 2 * kCrlBackdateSeconds;
  auto eve = pki.issueClient("eve", "private");
  pki.revoke("eve");
  for (auto t : lastUpdates(meshbroker::testing::readText(crl))) {
    EXPECT_EQ(t, now_ - kCrlBackdateSeconds);
  }
}

TEST_F(PkiTest, SharedCertificateIsStableUntilRevoked) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureTlsCrypt("public");
  auto first = pki.sharedClient("public");
  auto second = pki.sharedClient("public");
  EXPECT_EQ(first.cert_pem, second.cert_pem);
  EXPECT_EQ(first.key_pem, second.key_pem);
  EXPECT_EQ(modeOf(pki.layout().sharedKey("public")), 0600u);
  EXPECT_TRUE(accepted(pki, "public", first.cert_pem, now_));
  EXPECT_EQ(pki.revoke(sharedClientName("public")).revoked, 1);
  auto third = pki.sharedClient("public");
  EXPECT_NE(third.cert_pem, first.cert_pem);
  EXPECT_FALSE(accepted(pki, "public", first.cert_pem, now_));
  EXPECT_TRUE(accepted(pki, "public", third.cert_pem, now_));
  EXPECT_THROW(pki.issueClient("shared_public", "public"), PkiError);
}

// Finding 1: every certificate is refused by every instance but its own, whatever the client
// holds besides (tls-crypt keys are not part of this check at all).
TEST_F(PkiTest, InstancesRefuseEachOthersCertificates) {
  auto pki = make();
  pki.ensureCa("test CA");
  for (const char* instance : {"public", "private", "ptcp"}) {
    pki.ensureTlsCrypt(instance);
    pki.ensureInstance(instance);
  }
  pki.ensureServer("chip_private");
  std::map<std::string, std::string> cert_of = {
      {"public", pki.sharedClient("public").cert_pem},
      {"private", pki.issueClient("alice", "private").cert_pem},
      {"ptcp", pki.issueClient("tina", "ptcp").cert_pem}};
  // A revoked private user who takes the published shared certificate: refused by private.
  pki.issueClient("mallory", "private");
  ASSERT_EQ(pki.revoke("mallory").revoked, 1);
  for (const auto& [issued_for, cert] : cert_of) {
    for (const char* instance : {"public", "private", "ptcp"}) {
      EXPECT_EQ(accepted(pki, instance, cert, now_), issued_for == instance)
          << "certificate of " << issued_for << " on " << instance;
    }
  }
  // A server certificate (the network CA's) is no client anywhere.
  auto server = meshbroker::testing::readText(pki.layout().serverCert("chip_private"));
  for (const char* instance : {"public", "private", "ptcp"}) {
    EXPECT_FALSE(accepted(pki, instance, server, now_)) << instance;
  }
}

// Finding 1, migration: certificates the network CA signed before instances had client CAs keep
// working on their own instance (no profile is reissued) and are refused everywhere else,
// because the index says which instance each was issued for.
TEST_F(PkiTest, LegacyPkiMigratesWithoutReissuingProfiles) {
  auto pki = make();
  pki.ensureCa("test CA");
  const auto& layout = pki.layout();
  auto [alice, alice_serial, alice_key] = legacyCert(layout, "alice", now_);
  auto [tina, tina_serial, tina_key] = legacyCert(layout, "tina", now_);
  auto [shared, shared_serial, shared_key] = legacyCert(layout, "shared_public", now_);
  auto [bob, bob_serial, bob_key] = legacyCert(layout, "bob", now_);
  // The index as the old version wrote it: no "issuer"; bob revoked in the old crl.pem only
  // (his record was lost: the CRL entry alone must keep him out).
  nlohmann::json index = {{"clients",
                           {{{"name", "alice"},
                             {"instance", "private"},
                             {"serial", alice_serial},
                             {"issued_at", now_},
                             {"not_after", now_ + 1000000},
                             {"shared", false}},
                            {{"name", "tina"},
                             {"instance", "ptcp"},
                             {"serial", tina_serial},
                             {"issued_at", now_},
                             {"not_after", now_ + 1000000},
                             {"shared", false}},
                            {{"name", "shared_public"},
                             {"instance", "public"},
                             {"serial", shared_serial},
                             {"issued_at", now_},
                             {"not_after", now_ + 1000000},
                             {"shared", true}}}}};
  write(layout.index(), index.dump());
  write(layout.sharedCert("public"), shared);
  write(layout.sharedKey("public"), shared_key);
  {
    // The old crl.pem: the network CA's CRL listing bob.
    Pki old(dir_, [this] { return now_; });
    write(layout.index(), nlohmann::json{{"clients",
                                          {{{"name", "bob"},
                                            {"instance", "private"},
                                            {"serial", bob_serial},
                                            {"issued_at", now_},
                                            {"not_after", now_ + 1000000},
                                            {"revoked_at", now_},
                                            {"shared", false}}}}}
                              .dump());
    old.writeCrl();
    write(layout.index(), index.dump());
    // Only crl.pem existed before: the per-instance files come with the migration.
    fs::remove_all(dir_ / "crl");
    fs::remove_all(dir_ / "trust");
    fs::remove_all(dir_ / "ca");
    fs::remove_all(dir_ / "private" / "ca");
  }
  ASSERT_EQ(pki.list()[0].issuer, Issuer::kNetwork);
  now_ += 60;
  // `client init`: the local instances, then every CRL.
  for (const char* instance : {"public", "private", "ptcp"}) {
    pki.ensureTlsCrypt(instance);
    pki.ensureInstance(instance);
  }
  pki.writeCrl();

  EXPECT_TRUE(accepted(pki, "private", alice, now_));
  EXPECT_FALSE(accepted(pki, "ptcp", alice, now_));
  EXPECT_FALSE(accepted(pki, "public", alice, now_));
  EXPECT_TRUE(accepted(pki, "ptcp", tina, now_));
  EXPECT_FALSE(accepted(pki, "private", tina, now_));
  EXPECT_TRUE(accepted(pki, "public", shared, now_));
  EXPECT_FALSE(accepted(pki, "private", shared, now_));
  EXPECT_FALSE(accepted(pki, "ptcp", shared, now_));
  for (const char* instance : {"public", "private", "ptcp"}) {
    EXPECT_FALSE(accepted(pki, instance, bob, now_)) << instance;
  }
  // The legacy shared certificate is still the one `client shared` prints (no reissue).
  EXPECT_EQ(pki.sharedClient("public").cert_pem, shared);
  // New certificates come from the instance CAs, and are refused elsewhere as well.
  auto carol = pki.issueClient("carol", "private").cert_pem;
  EXPECT_TRUE(accepted(pki, "private", carol, now_));
  EXPECT_FALSE(accepted(pki, "ptcp", carol, now_));
  // Once an instance's last legacy user is revoked, it no longer trusts the network CA.
  auto trust = meshbroker::testing::readText(layout.instanceTrust("private"));
  EXPECT_NE(trust.find(meshbroker::testing::readText(layout.caCert())), std::string::npos);
  ASSERT_EQ(pki.revoke("alice").revoked, 1);
  EXPECT_FALSE(accepted(pki, "private", alice, now_));
  EXPECT_EQ(meshbroker::testing::readText(layout.instanceTrust("private")),
            meshbroker::testing::readText(layout.instanceCaCert("private")));
  EXPECT_TRUE(accepted(pki, "private", carol, now_));
}

// Finding 2: where the CA key is and the index is not, nothing is changed and nobody is
// un-revoked: every operation refuses with a message that says how to recover.
TEST_F(PkiTest, MissingIndexBesideTheCaRefusesEverything) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureTlsCrypt("private");
  pki.ensureTlsCrypt("public");
  auto alice = pki.issueClient("alice", "private").cert_pem;
  ASSERT_EQ(pki.revoke("alice").revoked, 1);
  auto crl_before = meshbroker::testing::readText(pki.layout().instanceCrl("private"));
  fs::remove(pki.layout().index());
  now_ += 10 * 86400;  // the CRLs are due for a refresh, which must refuse as well
  std::vector<std::pair<const char*, std::function<void()>>> operations = {
      {"ensureCa", [&] { make().ensureCa("test CA"); }},
      {"ensureInstance", [&] { make().ensureInstance("private"); }},
      {"issueClient", [&] { make().issueClient("bob", "private"); }},
      {"sharedClient", [&] { make().sharedClient("public"); }},
      {"revoke", [&] { make().revoke("alice"); }},
      {"writeCrl", [&] { make().writeCrl(); }},
      {"refreshCrlIfDue", [&] { make().refreshCrlIfDue(); }},
      {"list", [&] { make().list(); }}};
  for (const auto& [what, operation] : operations) {
    try {
      operation();
      ADD_FAILURE() << what << " went on without the index";
    } catch (const PkiError& e) {
      std::string message = e.what();
      EXPECT_NE(message.find(pki.layout().index().string() + ": is missing next to the CA key"),
                std::string::npos)
          << what << ": " << message;
      EXPECT_NE(message.find("Restore it from a backup"), std::string::npos) << message;
    }
    EXPECT_FALSE(fs::exists(pki.layout().index())) << what << " made a new index";
  }
  EXPECT_EQ(meshbroker::testing::readText(pki.layout().instanceCrl("private")), crl_before);
  EXPECT_FALSE(accepted(pki, "private", alice, now_));
}

// A CRL changes when a revocation does or when it ages, never otherwise: `client init`, a new
// instance's first profile or the shared profile rewrite nothing, so the copies Ansible makes on
// the other servers stay the same (its second run changes nothing) and openvpn reloads nothing.
TEST_F(PkiTest, CrlFilesChangeOnlyWithARevocationOrWhenDue) {
  auto pki = make();
  pki.ensureCa("test CA");
  for (const char* instance : {"private", "public"}) {
    pki.ensureTlsCrypt(instance);
    pki.ensureInstance(instance);
  }
  pki.writeCrl();
  const auto& layout = pki.layout();
  std::vector<fs::path> files = {layout.crl(), layout.instanceCrl("private"),
                                 layout.instanceCrl("public"), layout.instanceTrust("private"),
                                 layout.instanceTrust("public")};
  auto snapshot = [&] {
    std::vector<std::string> out;
    for (const auto& file : files) out.push_back(meshbroker::testing::readText(file));
    return out;
  };
  auto before = snapshot();
  now_ += 3600;  // a later second, so a re-signed CRL would differ
  pki.writeCrl();
  pki.ensureInstance("private");
  auto alice = pki.issueClient("alice", "private").cert_pem;
  pki.sharedClient("public");
  pki.sharedClient("public");
  make().writeCrl();
  EXPECT_EQ(snapshot(), before);
  // A revocation rewrites what lists it.
  ASSERT_EQ(pki.revoke("alice").revoked, 1);
  auto revoked = snapshot();
  EXPECT_NE(revoked[1], before[1]);
  EXPECT_FALSE(accepted(pki, "private", alice, now_));
  pki.writeCrl();
  EXPECT_EQ(snapshot(), revoked);
  // Due for a refresh (fewer than 23 days left): rewritten with a fresh validity.
  now_ += 8 * 86400;
  pki.writeCrl();
  EXPECT_NE(meshbroker::testing::readText(layout.crl()), revoked[0]);
  EXPECT_EQ(pki.crlNextUpdate(), now_ + 30 * 86400);
  EXPECT_FALSE(accepted(pki, "private", alice, now_));
}

// Finding 2: the CRL is the union of the old CRL and the index; a lost record or a hand-edited
// index never takes an entry out.
TEST_F(PkiTest, CrlEntriesAreNeverDropped) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureTlsCrypt("private");
  auto alice = pki.issueClient("alice", "private").cert_pem;
  ASSERT_EQ(pki.revoke("alice").revoked, 1);
  // The index forgets alice's revocation, then her record altogether.
  auto clients = pki.list();
  clients[0].revoked_at.reset();
  write(pki.layout().index(), formatIndex(clients));
  pki.writeCrl();
  EXPECT_FALSE(accepted(pki, "private", alice, now_));
  write(pki.layout().index(), formatIndex({}));
  now_ += 40 * 86400;  // long after the last CRL expired
  pki.writeCrl();
  EXPECT_FALSE(accepted(pki, "private", alice, now_));
  // A CRL file that cannot be read stops the rewrite instead of being replaced.
  write(pki.layout().instanceCrl("private"),
        "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
  try {
    pki.writeCrl();
    FAIL() << "rewrote over a malformed CRL";
  } catch (const PkiError& e) {
    EXPECT_NE(std::string(e.what()).find(pki.layout().instanceCrl("private").string() +
                                         ": holds a malformed CRL"),
              std::string::npos)
        << e.what();
  }
}

// Finding 2: a revoke that fails at any write (disk full), including between the CRL files and
// the index (a crash there), never leaves anyone un-revoked, and a retry finishes it.
TEST_F(PkiTest, RevokeThatFailsAtAnyWriteIsFinishedByARetry) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureTlsCrypt("private");
  pki.ensureInstance("private");
  auto bob = pki.issueClient("bob", "private").cert_pem;
  ASSERT_EQ(pki.revoke("bob").revoked, 1);
  auto alice = pki.issueClient("alice", "private").cert_pem;
  auto pristine = dir_.string() + "-pristine";
  fs::remove_all(pristine);
  fs::copy(dir_, pristine, fs::copy_options::recursive);

  FailingWriter count;
  Pki counting(
      dir_, [this] { return now_; }, count.writer());
  ASSERT_EQ(counting.revoke("alice").revoked, 1);
  // The CRL file that lists alice (the others are unchanged, so not rewritten), then the index.
  ASSERT_EQ(count.calls, 2);
  EXPECT_EQ(count.written.front(), pki.layout().instanceCrl("private"));
  EXPECT_EQ(count.written.back(), pki.layout().index());
  for (int fail_at = 0; fail_at < count.calls; ++fail_at) {
    fs::remove_all(dir_);
    fs::copy(pristine, dir_, fs::copy_options::recursive);
    FailingWriter failing{0, fail_at, {}};
    Pki broken(
        dir_, [this] { return now_; }, failing.writer());
    EXPECT_THROW(broken.revoke("alice"), PkiError) << "write " << fail_at;
    // Whatever is on disk: bob stays revoked, and alice is either revoked in the CRL or still
    // valid in the index (so that the retry below revokes her); never recorded and not enforced.
    EXPECT_FALSE(accepted(pki, "private", bob, now_)) << "write " << fail_at;
    bool index_says_revoked = make().list().back().revoked_at.has_value();
    bool crl_says_revoked = !accepted(pki, "private", alice, now_);
    EXPECT_TRUE(!index_says_revoked || crl_says_revoked) << "write " << fail_at;
    auto retry = make().revoke("alice");
    EXPECT_EQ(retry.revoked + retry.already_revoked, 1) << "write " << fail_at;
    EXPECT_FALSE(accepted(pki, "private", alice, now_)) << "write " << fail_at;
    EXPECT_FALSE(accepted(pki, "private", bob, now_)) << "write " << fail_at;
    EXPECT_TRUE(make().list().back().revoked_at.has_value()) << "write " << fail_at;
  }
  // The state an older version left when its CRL write failed (the index says revoked, the
  // CRL does not): revoke again rewrites the CRL instead of saying there is nothing to revoke.
  fs::remove_all(dir_);
  fs::copy(pristine, dir_, fs::copy_options::recursive);
  auto clients = pki.list();
  clients.back().revoked_at = now_;
  write(pki.layout().index(), formatIndex(clients));
  ASSERT_TRUE(accepted(pki, "private", alice, now_));
  auto finish = pki.revoke("alice");
  EXPECT_EQ(finish.revoked, 0);
  EXPECT_EQ(finish.already_revoked, 1);
  EXPECT_FALSE(accepted(pki, "private", alice, now_));
  fs::remove_all(pristine);
}

// Finding 2: replacing the shared certificate (its files lost or it was revoked) puts the old
// one in the CRL; a failure at any write of that never serves a certificate that is not valid.
TEST_F(PkiTest, SharedRotationRevokesTheOldOneAtEveryFailure) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureTlsCrypt("public");
  auto old = pki.sharedClient("public").cert_pem;
  fs::remove(pki.layout().sharedKey("public"));  // lost: a new one must replace it
  auto pristine = dir_.string() + "-pristine";
  fs::remove_all(pristine);
  fs::copy(dir_, pristine, fs::copy_options::recursive);
  FailingWriter count;
  Pki counting(
      dir_, [this] { return now_; }, count.writer());
  auto fresh = counting.sharedClient("public").cert_pem;
  EXPECT_NE(fresh, old);
  EXPECT_FALSE(accepted(pki, "public", old, now_));
  EXPECT_TRUE(accepted(pki, "public", fresh, now_));
  for (int fail_at = 0; fail_at < count.calls; ++fail_at) {
    fs::remove_all(dir_);
    fs::copy(pristine, dir_, fs::copy_options::recursive);
    FailingWriter failing{0, fail_at, {}};
    Pki broken(
        dir_, [this] { return now_; }, failing.writer());
    EXPECT_THROW(broken.sharedClient("public"), PkiError) << "write " << fail_at;
    auto retry = make().sharedClient("public").cert_pem;
    EXPECT_TRUE(accepted(pki, "public", retry, now_)) << "write " << fail_at;
    EXPECT_FALSE(accepted(pki, "public", old, now_)) << "write " << fail_at;
    EXPECT_EQ(make().sharedClient("public").cert_pem, retry) << "write " << fail_at;
  }
  fs::remove_all(pristine);
}

// Finding 9: a CRL is valid from a day before it was made for 30 days; the CA holder refreshes
// it when fewer than 23 days are left; servers a few hours off still accept it.
TEST_F(PkiTest, CrlLifetimeBackdatingAndRefresh) {
  EXPECT_TRUE(crlRefreshDue(std::nullopt, now_));
  EXPECT_FALSE(crlRefreshDue(now_ + 23 * 86400, now_));
  EXPECT_TRUE(crlRefreshDue(now_ + 23 * 86400 - 1, now_));
  EXPECT_TRUE(crlRefreshDue(now_ - 1, now_));

  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureTlsCrypt("private");
  pki.ensureInstance("private");
  auto alice = pki.issueClient("alice", "private").cert_pem;
  const auto made = now_;
  EXPECT_EQ(pki.crlNextUpdate(), made + 30 * 86400);
  EXPECT_EQ(crlNextUpdate(pki.layout().instanceCrl("private")), made + 30 * 86400);
  // A server whose clock is 12 hours behind (or ahead) accepts the CRL (and the certificate)
  // just written.
  EXPECT_TRUE(accepted(pki, "private", alice, made - 12 * 3600));
  EXPECT_TRUE(accepted(pki, "private", alice, made + 12 * 3600));
  // Past nextUpdate every client is refused: that is what the refresh prevents.
  EXPECT_EQ(verifyAt(pki.layout().instanceTrust("private"), pki.layout().instanceCrl("private"),
                     alice, made + 31 * 86400),
            X509_V_ERR_CRL_HAS_EXPIRED);

  now_ = made + 6 * 86400;
  EXPECT_FALSE(pki.refreshCrlIfDue());
  EXPECT_EQ(pki.crlNextUpdate(), made + 30 * 86400);
  now_ = made + 8 * 86400;
  EXPECT_TRUE(pki.refreshCrlIfDue());
  EXPECT_EQ(pki.crlNextUpdate(), now_ + 30 * 86400);
  EXPECT_TRUE(accepted(pki, "private", alice, made + 31 * 86400));
  // A missing CRL file is due at once.
  fs::remove(pki.layout().instanceCrl("private"));
  EXPECT_EQ(pki.crlNextUpdate(), std::nullopt);
  EXPECT_TRUE(pki.refreshCrlIfDue());
  EXPECT_TRUE(fs::exists(pki.layout().instanceCrl("private")));
  // A server that only got copies (no CA key) never rewrites a CRL.
  auto copy = dir_.string() + "-server";
  fs::remove_all(copy);
  fs::copy(dir_, copy, fs::copy_options::recursive);
  fs::remove(fs::path(copy) / "private" / "ca.key");
  fs::remove(fs::path(copy) / "private" / "index.json");
  now_ += 29 * 86400;
  Pki server(copy, [this] { return now_; });
  EXPECT_FALSE(server.refreshCrlIfDue());
  EXPECT_TRUE(server.list().empty());
  EXPECT_EQ(server.crlNextUpdate(), made + 8 * 86400 + 30 * 86400);
  fs::remove_all(copy);
}

// Finding 3: an instance's CRL file names the holders of its revoked certificates in comment
// lines before the PEM blocks, so a server that only gets a copy knows whose sessions to end;
// OpenSSL (and so OpenVPN) reads the file as before; a name is never dropped while its entry
// stays, even when the index loses the record.
TEST_F(PkiTest, CrlFileNamesTheRevokedForTheDaemon) {
  auto pki = make();
  pki.ensureCa("test CA");
  for (const char* instance : {"private", "public"}) {
    pki.ensureTlsCrypt(instance);
    pki.ensureInstance(instance);
  }
  auto alice = pki.issueClient("alice", "private").cert_pem;
  auto bob = pki.issueClient("bob", "private").cert_pem;
  const auto& layout = pki.layout();
  EXPECT_TRUE(revokedNamesIn(meshbroker::testing::readText(layout.instanceCrl("private"))).empty());
  ASSERT_EQ(pki.revoke("alice").revoked, 1);
  auto text = meshbroker::testing::readText(layout.instanceCrl("private"));
  auto names = revokedNamesIn(text);
  ASSERT_EQ(names.size(), 1u) << text;
  EXPECT_EQ(names.begin()->second, "alice");
  EXPECT_EQ(names.begin()->first, pki.list()[0].serial);  // alice's record
  EXPECT_TRUE(text.starts_with("# meshbroker: the CRLs of OpenVPN instance private.")) << text;
  EXPECT_TRUE(revokedNamesIn(meshbroker::testing::readText(layout.instanceCrl("public"))).empty());
  // The CRL blocks after the header still work: alice refused, bob accepted.
  EXPECT_FALSE(accepted(pki, "private", alice, now_));
  EXPECT_TRUE(accepted(pki, "private", bob, now_));
  // The index forgets alice: her name stays with her entry.
  write(layout.index(), formatIndex({pki.list()[1]}));
  now_ += 10 * 86400;  // and a refresh rewrites the file
  pki.writeCrl();
  EXPECT_EQ(revokedNamesIn(meshbroker::testing::readText(layout.instanceCrl("private"))), names);
  EXPECT_FALSE(accepted(pki, "private", alice, now_));
}

TEST(PkiRevokedNamesTest, OnlyWellFormedHeaderLinesCount) {
  auto names = revokedNamesIn(
      "# meshbroker: a header\n"
      "# revoked 0A1B alice\n"
      "# revoked zz bob\n"        // not hex
      "# revoked 0C carol dan\n"  // a name with a space
      "# revoked 0D ../etc\n"     // not a valid name
      "#revoked 0E eve\n"         // no space after #
      "# revoked 0F\n"            // no name
      "# revoked 1A mallory\r\n"  // a carriage return is not part of a valid name
      "-----BEGIN X509 CRL-----\n"
      "# revoked 0B trudy\n"  // after the PEM blocks start: not the header
      "-----END X509 CRL-----\n");
  EXPECT_EQ(names, (std::map<std::string, std::string>{{"0A1B", "alice"}}));
  EXPECT_TRUE(revokedNamesIn("").empty());
  EXPECT_TRUE(revokedNamesIn(std::string(1 << 16, '#')).empty());
}

// What the daemon says hourly about a node's CRLs: nothing with a week or more left; a warning
// before and after they expire that says where fresh ones come from (here, or the CA holder).
TEST(PkiCrlAdviceTest, WarnsAWeekAheadAndSaysWhereFreshOnesComeFrom) {
  const std::int64_t now = 1'800'000'000;
  EXPECT_EQ(crlAdvice(now + 7 * 86400, now, false), "");
  EXPECT_EQ(crlAdvice(now + 30 * 86400, now, true), "");
  auto soon = crlAdvice(now + 7 * 86400 - 3600, now, false);
  EXPECT_NE(soon.find("the CRLs expire in 167 h: OpenVPN will then refuse every client"),
            std::string::npos)
      << soon;
  EXPECT_NE(soon.find("on the CA holder"), std::string::npos) << soon;
  auto gone = crlAdvice(now - 2 * 3600, now, true);
  EXPECT_NE(gone.find("the CRLs expired 2 h ago: OpenVPN refuses every client"), std::string::npos)
      << gone;
  EXPECT_NE(gone.find("refreshes them here each day"), std::string::npos) << gone;
  EXPECT_NE(crlAdvice(std::nullopt, now, false).find("a CRL file is missing"), std::string::npos);
}

TEST_F(PkiTest, RejectsBadNames) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureTlsCrypt("private");
  for (const char* name : {"", "a b", "x\ny", "../etc", "dash-ed"}) {
    EXPECT_THROW(pki.issueClient(name, "private"), PkiError) << name;
  }
  EXPECT_THROW(pki.ensureServer("../x"), PkiError);
}

TEST_F(PkiTest, MalformedCaCertificateIsNamed) {
  auto pki = make();
  pki.ensureCa("test CA");
  write(pki.layout().caCert(), "garbage\n");
  try {
    make().ensureCa("test CA");
    FAIL() << "accepted a garbage CA certificate";
  } catch (const PkiError& e) {
    EXPECT_NE(std::string(e.what()).find(pki.layout().caCert().string() + ": is not a PEM"),
              std::string::npos)
        << e.what();
  }
  write(pki.layout().caCert(), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  try {
    make().ensureCa("test CA");
    FAIL() << "accepted a truncated CA certificate";
  } catch (const PkiError& e) {
    EXPECT_NE(std::string(e.what()).find("malformed certificate"), std::string::npos) << e.what();
  }
}

TEST_F(PkiTest, MismatchedOrMissingKeyIsNamed) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureServer("chip_public");
  pki.ensureServer("chip_private");
  fs::copy_file(pki.layout().serverKey("chip_private"), pki.layout().serverKey("chip_public"),
                fs::copy_options::overwrite_existing);
  try {
    pki.ensureServer("chip_public");
    FAIL() << "accepted a key of another certificate";
  } catch (const PkiError& e) {
    EXPECT_NE(std::string(e.what()).find("does not match the certificate"), std::string::npos);
  }
  write(pki.layout().caKey(), "not a key");
  EXPECT_THROW(make().ensureCa("test CA"), PkiError);
  fs::remove(pki.layout().caKey());
  try {
    make().ensureCa("test CA");
    FAIL() << "made a new CA over an existing certificate";
  } catch (const PkiError& e) {
    EXPECT_NE(std::string(e.what()).find("is missing while its other half exists"),
              std::string::npos);
  }
}

TEST_F(PkiTest, MalformedIndexAndStaticKey) {
  EXPECT_THROW(parseIndex("{"), PkiError);
  EXPECT_THROW(parseIndex("{\"clients\": 3}"), PkiError);
  try {
    parseIndex(R"({"clients": [{"name": "a\nb", "instance": "p", "serial": "01",
                  "issued_at": 1, "not_after": 2}]})");
    FAIL();
  } catch (const PkiError& e) {
    EXPECT_NE(std::string(e.what()).find("/clients/0"), std::string::npos);
  }
  std::vector<IssuedClient> clients = {{"a", "p", "0A", 1, 2, 3, false},
                                       {"b", "q", "0B", 4, 5, {}, true}};
  EXPECT_EQ(parseIndex(formatIndex(clients)), clients);
  EXPECT_THROW(checkStaticKey("nope", "k"), PkiError);
  auto key = generateStaticKey();
  EXPECT_NO_THROW(checkStaticKey(key, "k"));
  key[key.find("-----BEGIN") + 40] = 'z';
  EXPECT_THROW(checkStaticKey(key, "k"), PkiError);
  EXPECT_NE(generateStaticKey(), generateStaticKey());
}

}  // namespace
}  // namespace meshbroker::backends
