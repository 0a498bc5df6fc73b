// tinc key pairs: the PEM forms tinc 1.0 reads, made by the real tincd -K, and the public half
// derived from the private one (compared with OpenSSL's and tincd's own derivations).
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "backends/tinc_keys.hpp"
#include "config/types.hpp"
#include "tests/unit/test_support.hpp"

namespace meshbroker::backends {
namespace {

namespace fs = std::filesystem;

const fs::path kTincd = "/usr/sbin/tincd";

class TincKeys : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::freshTestDir("mb-keys"); }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(TincKeys, TincdMakesPkcs1PemThatValidationAcceptsAndLeavesNothingBehind) {
  auto pair = generateTincKeyPair(2048, kTincd, dir_);
  EXPECT_TRUE(pair.private_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
  EXPECT_TRUE(pair.private_pem.ends_with("-----END RSA PRIVATE KEY-----\n"));
  std::string why;
  EXPECT_TRUE(config::PublicKeyPem::parse(pair.public_pem, &why)) << why;
  // tincd's own public half and ours from the private key are the same text.
  EXPECT_EQ(publicKeyOf(pair.private_pem), pair.public_pem);
  EXPECT_TRUE(fs::is_empty(dir_)) << "the scratch folder with the private key is left behind";
}

TEST_F(TincKeys, KeysDiffer) {
  EXPECT_NE(generateTincKeyPair(2048, kTincd, dir_).public_pem,
            generateTincKeyPair(2048, kTincd, dir_).public_pem);
}

TEST_F(TincKeys, RefusesBadSizesAMissingTincdAndAMissingFolder) {
  EXPECT_THROW(generateTincKeyPair(1024, kTincd, dir_), KeyError);
  EXPECT_THROW(generateTincKeyPair(100000, kTincd, dir_), KeyError);
  try {
    generateTincKeyPair(2048, dir_ / "no-tincd", dir_);
    ADD_FAILURE() << "no error without tincd";
  } catch (const KeyError& e) {
    EXPECT_NE(std::string(e.what()).find("no-tincd"), std::string::npos) << e.what();
  }
  EXPECT_THROW(generateTincKeyPair(2048, kTincd, dir_ / "missing"), KeyError);
  EXPECT_TRUE(fs::is_empty(dir_));
}

// A key OpenSSL made, in both its forms: the public half is the one `openssl rsa
// -RSAPublicKey_out` printed.
TEST(TincPublicKey, IsOpensslsForAPkcs1OrPkcs8Key) {
  const auto keys = testing::kSourceDir / "tests/data/keys";
  const auto expected = testing::readText(keys / "openssl-pkcs8.pub");
  EXPECT_EQ(publicKeyOf(testing::readText(keys / "openssl-pkcs8.key")), expected);
  EXPECT_EQ(publicKeyOf(testing::readText(keys / "openssl-pkcs1.key")), expected);
}

TEST(TincPublicKey, RefusesWhatIsNotAnRsaPrivateKey) {
  const std::vector<std::string> refused{
      "not a key", "",
      // A P-256 key (PKCS#8, not RSA).
      "-----BEGIN PRIVATE KEY-----\n"
      "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtVALg1LcIAS/Ubh8\n"
      "kh23z0zfaVIC5UdnG5o9GMGOlPKhRANCAAROeb9GoiaefNa4ojj8nr3lWRTnuNDN\n"
      "LDBPA/vkrHCwVBTsODY+hl9j3PrkC2ErRo45DzMKAmkgHaH3dARE31Je\n"
      "-----END PRIVATE KEY-----\n",
      // A public key where the private one belongs.
      testing::readText(testing::kSourceDir / "tests/data/keys/openssl-pkcs8.pub"),
      "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n",
      "-----BEGIN RSA PRIVATE KEY-----\n@@@@\n-----END RSA PRIVATE KEY-----\n",
      "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n"};
  for (const auto& text : refused) EXPECT_THROW(publicKeyOf(text), KeyError) << text;
}

// Every byte of a real key's DER changed, one at a time, and random cuts: an error or some
// public key, never a read outside the text (the ASan build runs this too).
TEST(TincPublicKey, MangledDerIsAnErrorOrAKeyNeverACrash) {
  const auto pem = testing::readText(testing::kSourceDir / "tests/data/keys/openssl-pkcs1.key");
  std::mt19937 random(22);
  std::size_t refused = 0, tries = 0;
  for (std::size_t i = 0; i < 3000; ++i) {
    auto text = pem;
    const auto at = 32 + random() % (text.size() - 64);  // inside the base64
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (text[at] == '\n') continue;
    if (i % 10 == 0) {
      text = text.substr(0, at) + "\n-----END RSA PRIVATE KEY-----\n";
    } else {
      text[at] = alphabet[random() % alphabet.size()];
    }
    ++tries;
    try {
      publicKeyOf(text);
    } catch (const KeyError&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 0u);
  EXPECT_GT(tries, 2000u);
}

}  // namespace
}  // namespace meshbroker::backends
