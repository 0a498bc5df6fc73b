// The OpenVPN PKI: certificates that verify, a CRL that lists the revoked, an index that
// survives a restart, 0600 secrets, and clear errors for malformed files.
#include "backends/pki.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

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

// Verifies cert against the CA and (optionally) the CRL, like OpenVPN's crl-verify does.
int verify(const std::string& ca_pem, const std::string& cert_pem, const std::string& crl_pem) {
  X509* ca = readCert(ca_pem);
  X509* cert = readCert(cert_pem);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  if (!crl_pem.empty()) {
    BIO* bio = BIO_new_mem_buf(crl_pem.data(), static_cast<int>(crl_pem.size()));
    X509_CRL* crl = PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    X509_STORE_add_crl(store, crl);
    X509_CRL_free(crl);
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert, nullptr);
  int ok = X509_verify_cert(ctx);
  int error = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(cert);
  X509_free(ca);
  return error;
}

TEST_F(PkiTest, MakesCaServerAndTlsCryptWithPrivateModes) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureServer("chip_public");
  pki.ensureTlsCrypt("public");
  const auto& layout = pki.layout();
  EXPECT_EQ(modeOf(layout.caKey()), 0600u);
  EXPECT_EQ(modeOf(layout.serverKey("chip_public")), 0600u);
  EXPECT_EQ(modeOf(layout.tlsCryptKey("public")), 0600u);
  EXPECT_EQ(modeOf(layout.index()), 0600u);
  EXPECT_EQ(modeOf(dir_ / "private"), 0700u);
  EXPECT_EQ(modeOf(layout.crl()), 0644u);
  auto ca = meshbroker::testing::readText(layout.caCert());
  auto server = meshbroker::testing::readText(layout.serverCert("chip_public"));
  EXPECT_EQ(verify(ca, server, ""), X509_V_OK);
  EXPECT_NO_THROW(checkStaticKey(meshbroker::testing::readText(layout.tlsCryptKey("public")),
                                 layout.tlsCryptKey("public")));
  EXPECT_NE(meshbroker::testing::readText(layout.caKey()).find("BEGIN PRIVATE KEY"),
            std::string::npos);
}

TEST_F(PkiTest, EnsureKeepsWhatExists) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureServer("chip_public");
  auto ca = meshbroker::testing::readText(pki.layout().caCert());
  auto server = meshbroker::testing::readText(pki.layout().serverCert("chip_public"));
  auto again = make();
  again.ensureCa("test CA");
  again.ensureServer("chip_public");
  EXPECT_EQ(meshbroker::testing::readText(pki.layout().caCert()), ca);
  EXPECT_EQ(meshbroker::testing::readText(pki.layout().serverCert("chip_public")), server);
}

TEST_F(PkiTest, IssueRevokeAndCrl) {
  auto pki = make();
  pki.ensureCa("test CA");
  pki.ensureTlsCrypt("private");
  auto alice = pki.issueClient("alice", "private");
  auto bob = pki.issueClient("bob", "private");
  EXPECT_NE(alice.key_pem.find("BEGIN PRIVATE KEY"), std::string::npos);
  EXPECT_NE(alice.tls_crypt_key.find("BEGIN OpenVPN Static key V1"), std::string::npos);
  std::string crl = meshbroker::testing::readText(pki.layout().crl());
  EXPECT_EQ(verify(alice.ca_pem, alice.cert_pem, crl), X509_V_OK);

  EXPECT_THROW(pki.issueClient("alice", "private"), PkiError);  // still valid
  now_ += 60;
  EXPECT_EQ(pki.revoke("alice"), 1);
  EXPECT_EQ(pki.revoke("alice"), 0);
  crl = meshbroker::testing::readText(pki.layout().crl());
  EXPECT_EQ(verify(alice.ca_pem, alice.cert_pem, crl), X509_V_ERR_CERT_REVOKED);
  EXPECT_EQ(verify(bob.ca_pem, bob.cert_pem, crl), X509_V_OK);

  // A new Pki (a restart) reads the same records; alice may be issued again.
  auto after = make();
  auto list = after.list();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "alice");
  EXPECT_EQ(list[0].revoked_at, std::optional<std::int64_t>(1790000060));
  EXPECT_FALSE(list[1].revoked_at);
  EXPECT_NO_THROW(after.issueClient("alice", "private"));
  EXPECT_EQ(after.list().size(), 3u);
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
  EXPECT_EQ(pki.revoke(sharedClientName("public")), 1);
  auto third = pki.sharedClient("public");
  EXPECT_NE(third.cert_pem, first.cert_pem);
  EXPECT_THROW(pki.issueClient("shared_public", "public"), PkiError);
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
