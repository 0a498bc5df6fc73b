// The network registry's signed document (issue 20): what a node accepts and what it refuses.
// Each refusal is an attack: a forged byte, another key, a replayed older version, a second
// writer, another network's document, a directive smuggled into a host file, garbage.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

#include "network/document.hpp"
#include "network/envelope.hpp"
#include "network/signing.hpp"
#include "network/update.hpp"
#include "tests/unit/test_support.hpp"

namespace meshbroker::network {
namespace {

using nlohmann::json;

const std::string kTincKey =
    "-----BEGIN RSA PUBLIC KEY-----\nMIIBCgKCAQEA+/=\n-----END RSA PUBLIC KEY-----\n";
const std::string kCrl = "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n";

model::NetworkDocument sample(std::uint64_t version = 7) {
  model::NetworkDocument d;
  d.network = "comunidad";
  d.version = version;
  d.issued_ms = 1'780'000'000'000;
  model::NetworkNode chip{"chip",
                          "server",
                          "10.20.0.1",
                          "192.0.2.10",
                          655,
                          kTincKey,
                          {{"comegato", 1194, "udp"}},
                          {"10.30.0.0/24"}};
  model::NetworkNode cometa{"cometa",     "gateway", "10.20.0.3", std::nullopt,
                            std::nullopt, kTincKey,  {},          {}};
  d.nodes = {chip, cometa};
  d.crls["comegato"] = kCrl;
  return d;
}

class SignedDocument : public ::testing::Test {
 protected:
  std::string key_ = generateSigningKey();
  std::string pub_ = publicKeyOf(key_);
};

TEST_F(SignedDocument, RoundTripsThroughTheEnvelope) {
  const auto sealed = sealDocument(sample(), key_);
  const auto opened = openEnvelope(sealed, pub_);
  ASSERT_TRUE(opened.document) << opened.error;
  EXPECT_EQ(*opened.document, sample());
  EXPECT_EQ(opened.document->node("chip")->public_address, "192.0.2.10");
  EXPECT_EQ(opened.document->node("nobody"), nullptr);
}

TEST_F(SignedDocument, KeysHaveTheirTextForms) {
  EXPECT_TRUE(pub_.starts_with("ed25519:"));
  EXPECT_TRUE(isPublicKey(pub_));
  const auto fp = fingerprintOf(pub_);
  EXPECT_TRUE(fp.starts_with("sha256:"));
  EXPECT_EQ(fp.size(), 7u + 43u);  // SHA-256 in base64url without padding
  EXPECT_EQ(fp.find_first_of("+/="), std::string::npos);
  EXPECT_NE(fingerprintOf(publicKeyOf(generateSigningKey())), fp);
  std::string why;
  EXPECT_FALSE(isPublicKey("ed25519:AAAA", &why));
  EXPECT_NE(why.find("32 bytes"), std::string::npos);
  EXPECT_FALSE(isPublicKey("rsa:" + pub_.substr(8)));
  EXPECT_THROW(publicKeyOf("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
               CryptoError);
  EXPECT_THROW(fingerprintOf("garbage"), CryptoError);
}

TEST_F(SignedDocument, AForgedByteInTheDocumentIsRefused) {
  auto envelope = json::parse(sealDocument(sample(), key_));
  auto text = envelope["document"].get<std::string>();
  // The attacker moves cometa's mesh address onto a server's: one character.
  const auto at = text.find("10.20.0.3");
  ASSERT_NE(at, std::string::npos);
  text[at + 8] = '1';
  envelope["document"] = text;
  const auto opened = openEnvelope(envelope.dump(), pub_);
  EXPECT_FALSE(opened.document);
  EXPECT_NE(opened.error.find("signature does not match"), std::string::npos) << opened.error;
}

TEST_F(SignedDocument, ADocumentSignedByAnotherKeyIsRefusedEvenWithItsOwnKeyInside) {
  const auto attacker = generateSigningKey();
  const auto opened = openEnvelope(sealDocument(sample(99), attacker), pub_);
  EXPECT_FALSE(opened.document);
  EXPECT_NE(opened.error.find("signed by another key (" + fingerprintOf(publicKeyOf(attacker))),
            std::string::npos)
      << opened.error;
  EXPECT_NE(opened.error.find(fingerprintOf(pub_)), std::string::npos);
  // The attacker's signature with our key's name on the envelope: still refused.
  auto envelope = json::parse(sealDocument(sample(99), attacker));
  envelope["key"] = pub_;
  EXPECT_FALSE(openEnvelope(envelope.dump(), pub_).document);
}

TEST_F(SignedDocument, AnUnsignedOrMangledEnvelopeIsRefused) {
  auto envelope = json::parse(sealDocument(sample(), key_));
  for (const char* field : {"signature", "key", "document", "format"}) {
    auto broken = envelope;
    broken.erase(field);
    const auto opened = openEnvelope(broken.dump(), pub_);
    EXPECT_FALSE(opened.document) << field;
    EXPECT_NE(opened.error.find(field), std::string::npos) << opened.error;
  }
  auto empty_signature = envelope;
  empty_signature["signature"] = "";
  EXPECT_FALSE(openEnvelope(empty_signature.dump(), pub_).document);
  auto not_base64 = envelope;
  not_base64["signature"] = "!!!!";
  EXPECT_FALSE(openEnvelope(not_base64.dump(), pub_).document);
  auto format = envelope;
  format["format"] = "meshbroker-network/999";
  EXPECT_NE(openEnvelope(format.dump(), pub_).error.find("unknown format"), std::string::npos);
  // The bare document, no envelope at all.
  EXPECT_FALSE(openEnvelope(documentText(sample()), pub_).document);
  for (const std::string& garbage : std::vector<std::string>{
           "", "null", "[]", "{", std::string(10, '\0'), std::string("\xff\xfe")}) {
    EXPECT_FALSE(openEnvelope(garbage, pub_).document);
  }
  EXPECT_NE(openEnvelope(std::string(9 * 1024 * 1024, ' '), pub_).error.find("too large"),
            std::string::npos);
}

TEST_F(SignedDocument, ASignedButInvalidDocumentIsRefusedNamingTheField) {
  // Even the registry cannot make a node write a directive into a host file.
  auto d = sample();
  d.nodes[0].tinc_public_key =
      "-----BEGIN RSA PUBLIC KEY-----\nAAAA\nScript = /bin/sh\n-----END RSA PUBLIC KEY-----\n";
  auto opened = openEnvelope(sealDocument(d, key_), pub_);
  EXPECT_FALSE(opened.document);
  EXPECT_NE(opened.error.find("nodes[0].tinc_public_key"), std::string::npos) << opened.error;

  d = sample();
  d.nodes[1].name = "cometa\nConnectTo = evil";
  opened = openEnvelope(sealDocument(d, key_), pub_);
  EXPECT_NE(opened.error.find("nodes[1].name"), std::string::npos) << opened.error;

  d = sample();
  d.nodes[1].mesh_address = d.nodes[0].mesh_address;
  opened = openEnvelope(sealDocument(d, key_), pub_);
  EXPECT_NE(opened.error.find("also the mesh address of chip"), std::string::npos) << opened.error;

  d = sample();
  d.crls["comegato"] = "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\ncrl-verify /x\n";
  opened = openEnvelope(sealDocument(d, key_), pub_);
  EXPECT_NE(opened.error.find("crls.comegato"), std::string::npos) << opened.error;
}

// Interop: an envelope whose signature `openssl pkeyutl -sign -rawin` made (the fuzz corpus's
// seed) opens with the key it was made with, and with no other.
TEST(NetworkDocument, AnEnvelopeSignedByTheOpensslCliVerifies) {
  const auto text =
      testing::readText(testing::kSourceDir / "fuzz/corpus/network/signed-by-openssl-cli.json");
  const std::string pinned = "ed25519:pf18llMJZ4M8652d7vXcUgJq4evMj5SP19f+Y5Q/+Hc=";
  const auto opened = openEnvelope(text, pinned);
  ASSERT_TRUE(opened.document) << opened.error;
  EXPECT_EQ(opened.document->version, 7u);
  EXPECT_EQ(opened.document->nodes.size(), 2u);
  EXPECT_FALSE(openEnvelope(text, publicKeyOf(generateSigningKey())).document);
}

// Interop the other way, and the key file a registry already has: a key `openssl genpkey
// -algorithm ed25519` wrote gives the public key `openssl pkey -pubout` gives, and (Ed25519
// signatures are deterministic) the very signature `openssl pkeyutl -sign -rawin` made.
TEST(NetworkDocument, AKeyTheOpensslCliMadeSignsAsOpensslDoes) {
  const std::string pem =
      "-----BEGIN PRIVATE KEY-----\n"
      "MC4CAQAwBQYDK2VwBCIEIHMUQLjf7fRkw0ayuM8Q9IiIVe0NMzNDGrQtxPvf7QM1\n"
      "-----END PRIVATE KEY-----\n";
  const std::string pub = "ed25519:h0QIZjLL33eWDy1cspaea3kj9dl5pe49fB6RdQktC7Q=";
  EXPECT_EQ(publicKeyOf(pem), pub);
  const std::string message = "meshbroker interop\n";
  const std::string by_openssl =
      "CHoNyfa3h0VAiE4SMJwTzmtXcPK0VGng7PBnfcXTIe07tBLWHrDe6ohUHUJBSecETcoWIs3IgMYXJwtzjxFoAw==";
  EXPECT_EQ(sign(pem, message), by_openssl);
  EXPECT_TRUE(verify(pub, message, by_openssl));
  EXPECT_FALSE(verify(pub, "meshbroker interop", by_openssl));
  // Ours reads back, in the same form (what `openssl pkey` reads: PKCS#8, 64-column base64).
  const auto ours = generateSigningKey();
  EXPECT_TRUE(ours.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"));
  EXPECT_TRUE(verify(publicKeyOf(ours), message, sign(ours, message)));
}

// A signing key in any other form is refused by name, never half-read: another algorithm
// (Ed448, RSA), an encrypted key, bytes appended, a bare seed, garbage.
TEST(NetworkDocument, ASigningKeyInAnotherFormIsRefused) {
  const std::vector<std::string> refused{
      "-----BEGIN PRIVATE KEY-----\n"
      "MEcCAQAwBQYDK2VxBDsEOWsipMZGin3H/h0b/kBfb+lZ8sEi/jDsZ/Ra3jFZsPah\n"
      "EDS90YJkZ1dWchs7RVvnIclu7p3uJbcbHg==\n"
      "-----END PRIVATE KEY-----\n",
      "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
      "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhxhqtiqM+8NwICCAAw\n"
      "DAYIKoZIhvcNAgkFADAdBglghkgBZQMEAQIEEPLXmHRcgxgiafNBwEtFzfAEQEPn\n"
      "yD6cjRjrJ/KZ9S1cryhDho8gqVQikBse3dhPKHKqzYbSRpSwtK7EkclO1k84Bqgm\n"
      "f60CBCkymWiHZUsUG2s=\n"
      "-----END ENCRYPTED PRIVATE KEY-----\n",
      "-----BEGIN PRIVATE KEY-----\n"
      "MC4CAQAwBQYDK2VwBCIEIHMUQLjf7fRkw0ayuM8Q9IiIVe0NMzNDGrQtxPvf7QM1AA==\n"
      "-----END PRIVATE KEY-----\n",
      "-----BEGIN PRIVATE KEY-----\nMCwCAQAwBQYDK2VwBCIEIHMUQLjf7fRkw0ayuM8Q9IiIVe0NMzNDGrQtxPvf\n"
      "-----END PRIVATE KEY-----\n",
      "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK==\n-----END RSA PRIVATE KEY-----\n",
      "-----BEGIN PRIVATE "
      "KEY-----\nMC4CAQAwBQYDK2VwBCIEIHMUQLjf7fRkw0ayuM8Q9IiIVe0NMzNDGrQtxPvf7QM1\n",
      "",
      "\x30\x2e garbage"};
  for (const auto& pem : refused) {
    EXPECT_THROW(publicKeyOf(pem), CryptoError) << pem;
    EXPECT_THROW(sign(pem, "x"), CryptoError) << pem;
  }
}

// The hashes the invitations and the page's token use: RFC 4231's HMAC-SHA256 test case 2,
// FIPS 180-2's "abc".
TEST(NetworkDocument, HashesMatchTheirStandardsVectors) {
  auto hex = [](const std::string& bytes) {
    std::string out;
    for (unsigned char c : bytes) {
      out += "0123456789abcdef"[c >> 4];
      out += "0123456789abcdef"[c & 15];
    }
    return out;
  };
  EXPECT_EQ(hex(hmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(equalInConstantTime("abc", "abc"));
  EXPECT_FALSE(equalInConstantTime("abc", "abd"));
  EXPECT_FALSE(equalInConstantTime("abc", "abcd"));
  EXPECT_EQ(randomBytes(32).size(), 32u);
  EXPECT_NE(randomBytes(16), randomBytes(16));
}

TEST(NetworkDocument, ParsesStrictlyAndNamesTheField) {
  auto good = model::toJson(sample());
  ASSERT_TRUE(parseDocument(good.dump()).document);
  auto expect_error = [&](json doc, const std::string& words) {
    const auto parsed = parseDocument(doc.dump());
    EXPECT_FALSE(parsed.document) << words;
    EXPECT_NE(parsed.error.find(words), std::string::npos) << parsed.error;
  };
  auto d = good;
  d["version"] = 0;
  expect_error(d, "version");
  d = good;
  d["version"] = -3;
  expect_error(d, "version");
  d = good;
  d["nodes"][0]["role"] = "registry";
  expect_error(d, "nodes[0].role");
  d = good;
  d["nodes"][1]["name"] = "chip";
  expect_error(d, "\"chip\" is also nodes[0]");
  d = good;
  d["nodes"][0]["port"] = 70000;
  expect_error(d, "nodes[0].port");
  d = good;
  d["nodes"][0]["client_subnets"] = {"10.30.0.1/24"};
  expect_error(d, "nodes[0].client_subnets[0]");
  d = good;
  d["nodes"][0]["public_address"] = "192.0.2.10\nAddress = 6.6.6.6";
  expect_error(d, "nodes[0].public_address");
  d = good;
  d["nodes"][0].erase("mesh_address");
  expect_error(d, "nodes[0].mesh_address: missing");
  d = good;
  d["nodes"][0]["openvpn"] = {d["nodes"][0]["openvpn"][0], d["nodes"][0]["openvpn"][0]};
  expect_error(d, "listed twice");
  d = good;
  d["nodes"][0]["openvpn"][0]["proto"] = "udp\nremote 6.6.6.6";
  expect_error(d, "nodes[0].openvpn[0].proto");
  d = good;
  d["nodes"][0]["openvpn"][0]["port"] = "1194";
  expect_error(d, "nodes[0].openvpn[0].port");
  d = good;
  d["removed"] = {"chip"};
  expect_error(d, "\"chip\" is also in nodes");
  d = good;
  d["removed"] = {"illimani", "illimani"};
  expect_error(d, "listed twice");
  d = good;
  d["removed"] = {"il limani"};
  expect_error(d, "removed[0]");
  d = good;
  d["crls"]["comegato"] = kCrl + kCrl;  // a client CA's CRL and the network CA's, as the file
  EXPECT_TRUE(parseDocument(d.dump()).document);
  d["crls"]["comegato"] = "# the CRLs of private\n# revoked 0A alice\n" + kCrl + kCrl;
  EXPECT_TRUE(parseDocument(d.dump()).document);  // the header the drivers read
  d["crls"]["comegato"] = "# revoked 0A alice\n";
  expect_error(d, "holds no PEM X509 CRL");
  d["crls"]["comegato"] = "# revoked 0A alice\ndev tun\n" + kCrl;
  expect_error(d, "crls.comegato");
  d["crls"]["comegato"] = kCrl + "-----BEGIN X509 CRL-----\n";
  expect_error(d, "crls.comegato");
  d["crls"]["comegato"] = kCrl + "dev tun\n";
  expect_error(d, "crls.comegato");
  d = good;
  d["network"] = 5;
  expect_error(d, "network");
  d = good;
  d["future_field"] = {{"a", 1}};  // a newer registry's addition: ignored
  EXPECT_TRUE(parseDocument(d.dump()).document);
  EXPECT_NE(parseDocument(std::string(5 * 1024 * 1024, ' ')).error.find("larger"),
            std::string::npos);
}

// IPv6 (issue 21): optional, absent from an IPv4-only document, as strict as IPv4 when there.
TEST(NetworkDocument, Ipv6FieldsAreOptionalAndStrict) {
  EXPECT_FALSE(model::toJson(sample())["nodes"][0].contains("mesh_address6"));
  EXPECT_FALSE(model::toJson(sample())["nodes"][0].contains("client_subnets6"));
  auto d6 = sample();
  d6.nodes[0].mesh_address6 = "fd00:20::1";
  d6.nodes[0].client_subnets6 = {"fd00:30::/64"};
  d6.nodes[1].mesh_address6 = "fd00:20::3";
  auto good = model::toJson(d6);
  const auto parsed = parseDocument(good.dump());
  ASSERT_TRUE(parsed.document) << parsed.error;
  EXPECT_EQ(*parsed.document, d6);
  // Each: one field set to a hostile value, and the words the refusal must hold.
  const std::vector<std::tuple<std::string, json, std::string>> cases = {
      {"/nodes/1/mesh_address6", "fd00:20::1", "also the mesh address of chip"},
      {"/nodes/0/mesh_address6", "10.20.0.1", "nodes[0].mesh_address6"},
      {"/nodes/0/mesh_address6", "fd00:20::1\nAddress = 6.6.6.6", "nodes[0].mesh_address6"},
      {"/nodes/0/client_subnets6", json::array({"fd00:30::1/64"}), "nodes[0].client_subnets6[0]"},
      {"/nodes/0/client_subnets6", "fd00:30::/64", "nodes[0].client_subnets6"},
      {"/nodes/0/client_subnets6", json::array(), "nodes[0].client_subnets6"}};
  for (const auto& [pointer, value, words] : cases) {
    auto d = good;
    d[json::json_pointer(pointer)] = value;
    const auto result = parseDocument(d.dump());
    EXPECT_FALSE(result.document) << pointer;
    EXPECT_NE(result.error.find(words), std::string::npos) << pointer << ": " << result.error;
  }
}

TEST(NetworkUpdate, AcceptsOnlyAHigherVersionOfItsOwnNetwork) {
  const auto v7 = sample(7);
  EXPECT_EQ(decideUpdate(std::nullopt, "comunidad", v7).verdict, UpdateVerdict::kAccept);
  EXPECT_EQ(decideUpdate(v7, "comunidad", sample(8)).verdict, UpdateVerdict::kAccept);
  EXPECT_EQ(decideUpdate(v7, "comunidad", v7).verdict, UpdateVerdict::kSame);
  const auto replay = decideUpdate(sample(8), "comunidad", v7);
  EXPECT_EQ(replay.verdict, UpdateVerdict::kOlder);
  EXPECT_NE(replay.reason.find("older than 8"), std::string::npos) << replay.reason;
  auto other_writer = sample(7);
  other_writer.nodes.pop_back();
  const auto second = decideUpdate(v7, "comunidad", other_writer);
  EXPECT_EQ(second.verdict, UpdateVerdict::kOlder);
  EXPECT_NE(second.reason.find("second writer"), std::string::npos);
  auto foreign = sample(100);
  foreign.network = "otra";
  EXPECT_EQ(decideUpdate(v7, "comunidad", foreign).verdict, UpdateVerdict::kOtherNetwork);
  EXPECT_EQ(decideUpdate(std::nullopt, "comunidad", foreign).verdict, UpdateVerdict::kOtherNetwork);
}

TEST(Base64, IsStrictAndCanonical) {
  std::string out;
  EXPECT_TRUE(decodeBase64("aGk=", out));
  EXPECT_EQ(out, "hi");
  EXPECT_TRUE(decodeBase64("", out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(decodeBase64("aGk", out));   // unpadded
  EXPECT_FALSE(decodeBase64("aGl=", out));  // non-zero bits under the padding
  EXPECT_EQ(out, "") << "a refused text left what it decoded to";  // (libsodium refuses it too)
  EXPECT_FALSE(decodeBase64("aG k", out));                         // a space
  EXPECT_FALSE(decodeBase64("a=Gk", out));                         // padding in the middle
  EXPECT_FALSE(decodeBase64("====", out));
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    ASSERT_TRUE(decodeBase64(encodeBase64(s), out));
    EXPECT_EQ(out, s);
  }
}

}  // namespace
}  // namespace meshbroker::network
