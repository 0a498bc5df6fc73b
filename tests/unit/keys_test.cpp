// tinc key pairs: the PEM forms tinc 1.0 reads, and the public half derived from the private.
#include <gtest/gtest.h>

#include "backends/tinc_keys.hpp"
#include "config/types.hpp"

namespace meshbroker::backends {
namespace {

TEST(TincKeys, GeneratesPkcs1PemThatValidationAccepts) {
  auto pair = generateTincKeyPair(2048);
  EXPECT_TRUE(pair.private_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
  std::string why;
  EXPECT_TRUE(config::PublicKeyPem::parse(pair.public_pem, &why)) << why;
  EXPECT_EQ(publicKeyOf(pair.private_pem), pair.public_pem);
}

TEST(TincKeys, KeysDiffer) {
  EXPECT_NE(generateTincKeyPair(2048).public_pem, generateTincKeyPair(2048).public_pem);
}

TEST(TincKeys, RejectsBadSizesAndGarbage) {
  EXPECT_THROW(generateTincKeyPair(1024), KeyError);
  EXPECT_THROW(generateTincKeyPair(100000), KeyError);
  EXPECT_THROW(publicKeyOf("not a key"), KeyError);
  EXPECT_THROW(publicKeyOf(""), KeyError);
}

}  // namespace
}  // namespace meshbroker::backends
