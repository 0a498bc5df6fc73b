// PEM text (network/pem.hpp) and tinc key pairs: the PEM forms tinc 1.0 reads, made by the real
// tincd -K, and the public half derived from the private one (compared with OpenSSL's and tincd's
// own derivations).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "backends/tinc_keys.hpp"
#include "config/types.hpp"
#include "network/pem.hpp"
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

// A keygen killed while tincd -K ran left its scratch folder, with a private key in it: the next
// keygen removes it. A symlink with that name goes as a link; where it points is left alone.
TEST_F(TincKeys, AScratchFolderAKilledKeygenLeftIsRemovedByTheNext) {
  fs::create_directories(dir_ / ".tinc-keygen-Ab12Cd");
  std::ofstream(dir_ / ".tinc-keygen-Ab12Cd" / "rsa_key.priv") << "left behind";
  const auto elsewhere = testing::freshTestDir("mb-keys-elsewhere");
  std::ofstream(elsewhere / "keep") << "kept";
  fs::create_directory_symlink(elsewhere, dir_ / ".tinc-keygen-link");
  std::ofstream(dir_ / "rsa_key.priv.other") << "not ours";
  generateTincKeyPair(2048, kTincd, dir_);
  EXPECT_FALSE(fs::exists(dir_ / ".tinc-keygen-Ab12Cd"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ / ".tinc-keygen-link")));
  EXPECT_EQ(testing::readText(elsewhere / "keep"), "kept");
  EXPECT_EQ(testing::readText(dir_ / "rsa_key.priv.other"), "not ours");
  fs::remove_all(elsewhere);
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
using network::pemBlock;
using network::pemDecode;
using network::PemDecoded;
using network::pemEncode;

TEST(Pem, EncodedBytesComeBackInLinesOf64) {
  std::string der;
  for (int i = 0; i < 200; ++i) der.push_back(static_cast<char>(i * 37));
  const auto pem = pemEncode("RSA PUBLIC KEY", der);
  EXPECT_TRUE(pem.starts_with("-----BEGIN RSA PUBLIC KEY-----\n")) << pem;
  EXPECT_TRUE(pem.ends_with("\n-----END RSA PUBLIC KEY-----\n")) << pem;
  // 200 bytes are 268 base64 characters: lines of 64, 64, 64, 64 and 12.
  std::size_t longest = 0;
  for (std::size_t at = 0, next; at < pem.size(); at = next + 1) {
    next = pem.find('\n', at);
    if (pem.compare(at, 5, "-----") != 0) longest = std::max(longest, next - at);
  }
  EXPECT_EQ(longest, 64u);
  const auto decoded = pemDecode(pem, "RSA PUBLIC KEY");
  ASSERT_EQ(decoded.status, PemDecoded::Status::kFound);
  EXPECT_EQ(decoded.der, der);
  // CRLF line ends read the same.
  std::string crlf;
  for (char c : pem) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_EQ(pemDecode(crlf, "RSA PUBLIC KEY").der, der);
}

TEST(Pem, FindsTheBlockOfItsOwnLabelOnly) {
  const auto rsa = pemEncode("RSA PRIVATE KEY", "rsa");
  const auto pkcs8 = pemEncode("PRIVATE KEY", "pkcs8");
  const std::string text = "tincd wrote this\n\n" + rsa + pkcs8 + "trailer";
  EXPECT_EQ(pemBlock(text, "RSA PRIVATE KEY"), rsa);
  EXPECT_EQ(pemBlock(text, "PRIVATE KEY"), pkcs8);
  EXPECT_EQ(pemDecode(text, "PRIVATE KEY").der, "pkcs8");
  EXPECT_EQ(pemDecode(text, "RSA PRIVATE KEY").der, "rsa");
  EXPECT_EQ(pemBlock(text, "PUBLIC KEY"), "");
  EXPECT_EQ(pemDecode(text, "ENCRYPTED PRIVATE KEY").status, PemDecoded::Status::kNoBlock);
  // An END line with no newline after it ends the block too.
  EXPECT_EQ(pemBlock(pkcs8.substr(0, pkcs8.size() - 1), "PRIVATE KEY"),
            pkcs8.substr(0, pkcs8.size() - 1));
}

TEST(Pem, SaysWhatIsWrongWithABrokenBlock) {
  const auto pem = pemEncode("PRIVATE KEY", "0123456789");
  const auto cut = pem.substr(0, pem.find("-----END"));
  EXPECT_EQ(pemDecode(cut, "PRIVATE KEY").status, PemDecoded::Status::kNoEnd);
  EXPECT_EQ(pemBlock(cut, "PRIVATE KEY"), "");
  for (const std::string body : {"MDEy*zQ1Njc4OQ==", "MDEyMzQ1Njc4OQ=", "MDEyMzQ1Njc4OR==", ""}) {
    const std::string text =
        "-----BEGIN PRIVATE KEY-----\n" + body + "\n-----END PRIVATE KEY-----\n";
    const auto decoded = pemDecode(text, "PRIVATE KEY");
    EXPECT_EQ(decoded.status,
              body.empty() ? PemDecoded::Status::kFound : PemDecoded::Status::kBadBase64)
        << body;
    EXPECT_TRUE(decoded.der.empty()) << body;
  }
  // The END line of another label does not end this one.
  EXPECT_EQ(
      pemDecode("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n", "PRIVATE KEY")
          .status,
      PemDecoded::Status::kNoEnd);
}

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
