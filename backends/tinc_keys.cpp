// tincd -K for the key pair; the public half of a private key by reading its DER (a few
// length-checked TLVs); PEM through network/pem.hpp.
#include "backends/tinc_keys.hpp"

#include <sodium.h>
#include <stdlib.h>

#include <string_view>
#include <system_error>

#include "backends/command.hpp"
#include "config/loader.hpp"
#include "network/pem.hpp"

namespace meshbroker::backends {
namespace {

namespace fs = std::filesystem;

// One DER element: its tag, its contents and everything after it.
struct Tlv {
  unsigned char tag = 0;
  std::string_view content;
  std::string_view whole;  // tag, length and content
  std::string_view rest;
};

// The element at the start of `der`; KeyError when it is cut short or not DER.
Tlv readTlv(std::string_view der) {
  auto fail = [] { return KeyError("not an RSA private key (malformed DER)"); };
  if (der.size() < 2) throw fail();
  std::size_t length = static_cast<unsigned char>(der[1]);
  std::size_t header = 2;
  if (length & 0x80) {
    const std::size_t count = length & 0x7f;
    if (count == 0 || count > 3 || der.size() < 2 + count) throw fail();  // ≤ 16 MB, definite
    length = 0;
    for (std::size_t i = 0; i < count; ++i)
      length = length << 8 | static_cast<unsigned char>(der[2 + i]);
    header += count;
  }
  if (der.size() - header < length) throw fail();
  return {static_cast<unsigned char>(der[0]), der.substr(header, length),
          der.substr(0, header + length), der.substr(header + length)};
}

constexpr unsigned char kSequence = 0x30, kInteger = 0x02, kOctetString = 0x04;

Tlv expect(std::string_view der, unsigned char tag, const char* what) {
  auto tlv = readTlv(der);
  if (tlv.tag != tag) throw KeyError(std::string("not an RSA private key (no ") + what + ")");
  return tlv;
}

std::string lengthOf(std::size_t n) {
  if (n < 0x80) return std::string(1, static_cast<char>(n));
  std::string bytes;
  for (; n; n >>= 8) bytes.insert(bytes.begin(), static_cast<char>(n & 0xff));
  return static_cast<char>(0x80 | bytes.size()) + bytes;
}

// The DER in the PEM block of `label`; empty when there is no such block.
std::string pemBody(std::string_view pem, std::string_view label) {
  auto decoded = network::pemDecode(pem, label);
  switch (decoded.status) {
    case network::PemDecoded::Status::kNoBlock:
      return {};
    case network::PemDecoded::Status::kNoEnd:
      throw KeyError("the PEM block has no END line");
    case network::PemDecoded::Status::kBadBase64:
      throw KeyError("the PEM block is not base64");
    case network::PemDecoded::Status::kFound:
      break;
  }
  return std::move(decoded.der);
}

// The PEM block of `label` in a file tincd wrote (it starts with a blank line), or KeyError.
std::string pemBlockIn(const fs::path& file, std::string_view label) {
  auto text = config::readSmallFile(file);
  if (!text) throw KeyError("tincd -K wrote no " + file.filename().string());
  const auto block = network::pemBlock(*text, label);
  if (block.empty()) {
    throw KeyError(file.filename().string() + " from tincd -K holds no " + std::string(label));
  }
  return std::string(block);
}

constexpr std::string_view kScratchPrefix = ".tinc-keygen-";

// A scratch folder a keygen left when it was killed (SIGKILL, power cut) holds a private key
// nothing uses: removed before the next one starts. A symlink of that name is removed as a link.
void removeStaleScratch(const fs::path& folder) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (!entry.path().filename().string().starts_with(kScratchPrefix)) continue;
    std::error_code ignored;
    fs::remove_all(entry.path(), ignored);
  }
}

}  // namespace

TincKeyPair generateTincKeyPair(int bits, const fs::path& tincd, const fs::path& folder) {
  if (bits < 2048 || bits > 8192) throw KeyError("key size must be 2048..8192 bits");
  removeStaleScratch(folder);
  std::string scratch = (folder / (std::string(kScratchPrefix) + "XXXXXX")).string();
  if (!::mkdtemp(scratch.data())) {  // 0700
    throw KeyError("cannot make a scratch folder in " + folder.string() + ": " +
                   std::generic_category().message(errno));
  }
  struct Remove {
    fs::path path;
    ~Remove() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  } remove{scratch};
  // tincd -K writes rsa_key.priv and rsa_key.pub into -c's folder when tinc.conf has no Name;
  // it prints a dot per candidate prime (a few kB for 8192 bits).
  auto result =
      runCommand(tincd, {"-c", scratch, "-K" + std::to_string(bits)}, "", std::chrono::minutes(5));
  if (!result.ok) {
    throw KeyError(
        "tincd -K failed (" + tincd.string() + "; is tinc installed?): " +
        result.output.substr(result.output.size() > 300 ? result.output.size() - 300 : 0));
  }
  TincKeyPair pair{pemBlockIn(fs::path(scratch) / "rsa_key.priv", "RSA PRIVATE KEY"),
                   pemBlockIn(fs::path(scratch) / "rsa_key.pub", "RSA PUBLIC KEY")};
  if (publicKeyOf(pair.private_pem) != pair.public_pem) {
    throw KeyError("tincd -K wrote a public key that is not its private key's");
  }
  return pair;
}

std::string publicKeyOf(const std::string& private_pem) {
  std::string der = pemBody(private_pem, "RSA PRIVATE KEY");  // PKCS#1
  if (der.empty()) {
    // PKCS#8: SEQUENCE { INTEGER 0, SEQUENCE { OID rsaEncryption, NULL }, OCTET STRING {PKCS#1} }
    const auto outer = pemBody(private_pem, "PRIVATE KEY");
    if (outer.empty()) throw KeyError("not an RSA private key in PEM");
    auto seq = expect(outer, kSequence, "PKCS#8 sequence");
    auto version = expect(seq.content, kInteger, "PKCS#8 version");
    auto algorithm = expect(version.rest, kSequence, "algorithm");
    static constexpr std::string_view kRsaOid{"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01", 11};
    if (!algorithm.content.starts_with(kRsaOid)) throw KeyError("the private key is not RSA");
    der = std::string(expect(algorithm.rest, kOctetString, "key octets").content);
  }
  // RSAPrivateKey: SEQUENCE { version, modulus, publicExponent, ... } (RFC 8017 A.1.2).
  auto seq = expect(der, kSequence, "sequence");
  auto version = expect(seq.content, kInteger, "version");
  auto modulus = expect(version.rest, kInteger, "modulus");
  auto exponent = expect(modulus.rest, kInteger, "public exponent");
  if (modulus.content.size() < 128 || static_cast<unsigned char>(modulus.content[0]) & 0x80 ||
      exponent.content.empty() || static_cast<unsigned char>(exponent.content[0]) & 0x80) {
    throw KeyError("not an RSA private key (modulus or exponent out of range)");
  }
  std::string body = std::string(modulus.whole) + std::string(exponent.whole);
  sodium_memzero(der.data(), der.size());
  return network::pemEncode("RSA PUBLIC KEY",
                            static_cast<char>(kSequence) + lengthOf(body.size()) + body);
}

}  // namespace meshbroker::backends
