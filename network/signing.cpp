#include "network/signing.hpp"

#include <sodium.h>

#include <array>

#include "network/pem.hpp"

namespace meshbroker::network {
namespace {

constexpr std::string_view kKeyPrefix = "ed25519:";
constexpr std::string_view kFingerprintPrefix = "sha256:";
constexpr std::size_t kKeyBytes = crypto_sign_PUBLICKEYBYTES;
constexpr std::size_t kSeedBytes = crypto_sign_SEEDBYTES;
constexpr std::size_t kSignatureBytes = crypto_sign_BYTES;
static_assert(kKeyBytes == 32 && kSeedBytes == 32 && kSignatureBytes == 64);

// An Ed25519 private key in PKCS#8 (RFC 8410 §7), the form `openssl genpkey -algorithm
// ed25519` and OpenSSL's PEM writer produce: this DER prefix, then the 32-byte seed.
constexpr std::string_view kPkcs8Prefix{
    "\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 16};
constexpr std::string_view kPemLabel = "PRIVATE KEY";

const unsigned char* bytes(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}
unsigned char* bytes(std::string& text) { return reinterpret_cast<unsigned char*>(text.data()); }

void ready() {
  static const int status = sodium_init();  // 0 first time, 1 after: both fine; -1 is not
  if (status < 0) throw CryptoError("libsodium cannot start (no random source?)");
}

// The 32-byte seed of a PKCS#8 PEM Ed25519 private key. Anything else (another algorithm, an
// encrypted key, a key with attributes or its public half appended) is a CryptoError.
std::string seedOf(std::string_view pem) {
  auto decoded = pemDecode(pem, kPemLabel);
  switch (decoded.status) {
    case PemDecoded::Status::kNoBlock:
      throw CryptoError("not a PEM private key (no \"-----BEGIN PRIVATE KEY-----\" line)");
    case PemDecoded::Status::kNoEnd:
      throw CryptoError("not a PEM private key (no END line)");
    case PemDecoded::Status::kBadBase64:
      throw CryptoError("not a PEM private key (bad base64)");
    case PemDecoded::Status::kFound:
      break;
  }
  std::string& der = decoded.der;
  if (der.size() != kPkcs8Prefix.size() + kSeedBytes || !der.starts_with(kPkcs8Prefix)) {
    sodium_memzero(der.data(), der.size());
    throw CryptoError(
        "the signing key is not an unencrypted Ed25519 key in PKCS#8 (openssl genpkey "
        "-algorithm ed25519)");
  }
  auto seed = der.substr(kPkcs8Prefix.size());
  sodium_memzero(der.data(), der.size());
  return seed;
}

// libsodium's 64-byte secret key (seed and public key) and the public key, from a PEM key.
struct KeyPair {
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> secret{};
  std::array<unsigned char, kKeyBytes> public_key{};
  KeyPair() = default;
  KeyPair(const KeyPair&) = delete;
  KeyPair& operator=(const KeyPair&) = delete;
  ~KeyPair() { sodium_memzero(secret.data(), secret.size()); }
};

void keyPairOf(std::string_view pem, KeyPair& pair) {
  ready();
  auto seed = seedOf(pem);
  const int rc = crypto_sign_seed_keypair(pair.public_key.data(), pair.secret.data(), bytes(seed));
  sodium_memzero(seed.data(), seed.size());
  if (rc != 0) throw CryptoError("cannot derive the Ed25519 key pair");
}

// The 32 raw bytes of an "ed25519:..." key, or false.
bool rawPublicKey(std::string_view text, std::string& raw, std::string* why) {
  auto fail = [&](const char* reason) {
    if (why) *why = reason;
    return false;
  };
  if (!text.starts_with(kKeyPrefix)) return fail("does not start with \"ed25519:\"");
  if (!decodeBase64(text.substr(kKeyPrefix.size()), raw)) {
    return fail("is not base64 after \"ed25519:\"");
  }
  if (raw.size() != kKeyBytes) return fail("is not 32 bytes long");
  return true;
}

}  // namespace

std::string encodeBase64(std::string_view in) {
  std::string out(sodium_base64_ENCODED_LEN(in.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes(in), in.size(), sodium_base64_VARIANT_ORIGINAL);
  out.pop_back();  // the terminating NUL libsodium counts in
  return out;
}

bool decodeBase64(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 != 0) return false;
  if (text.empty()) return true;
  out.resize(text.size() / 4 * 3);
  std::size_t size = 0;
  const char* end = nullptr;
  if (sodium_base642bin(bytes(out), out.size(), text.data(), text.size(), nullptr, &size, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    out.clear();
    return false;
  }
  out.resize(size);
  // Canonical only (no bits set under the padding): one text per byte string. The text may be
  // a key: the copy made to compare, and what a refused text decoded to, are wiped.
  auto again = encodeBase64(out);
  const bool canonical = again == text;
  sodium_memzero(again.data(), again.size());
  if (!canonical) {
    sodium_memzero(out.data(), out.size());
    out.clear();
  }
  return canonical;
}

std::string generateSigningKey() {
  ready();
  std::string der(kPkcs8Prefix);
  der.resize(kPkcs8Prefix.size() + kSeedBytes);
  randombytes_buf(bytes(der) + kPkcs8Prefix.size(), kSeedBytes);
  auto pem = pemEncode(kPemLabel, der);
  sodium_memzero(der.data(), der.size());
  return pem;
}

std::string publicKeyOf(std::string_view private_pem) {
  KeyPair pair;
  keyPairOf(private_pem, pair);
  return std::string(kKeyPrefix) +
         encodeBase64(std::string_view(reinterpret_cast<const char*>(pair.public_key.data()),
                                       pair.public_key.size()));
}

bool isPublicKey(std::string_view text, std::string* why) {
  std::string raw;
  return rawPublicKey(text, raw, why);
}

std::string fingerprintOf(std::string_view public_key) {
  std::string raw, why;
  if (!rawPublicKey(public_key, raw, &why)) throw CryptoError("the public key " + why);
  return std::string(kFingerprintPrefix) + encodeBase64Url(sha256(raw));
}

std::string encodeBase64Url(std::string_view bytes) {
  auto text = encodeBase64(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (auto& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

std::string sha256(std::string_view in) {
  std::string digest(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(bytes(digest), bytes(in), in.size());
  return digest;
}

std::string hmacSha256(std::string_view key, std::string_view message) {
  crypto_auth_hmacsha256_state state;
  std::string mac(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_init(&state, bytes(key), key.size());
  crypto_auth_hmacsha256_update(&state, bytes(message), message.size());
  crypto_auth_hmacsha256_final(&state, bytes(mac));
  sodium_memzero(&state, sizeof state);
  return mac;
}

bool equalInConstantTime(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string randomBytes(std::size_t count) {
  ready();
  std::string out(count, '\0');
  randombytes_buf(bytes(out), count);
  return out;
}

std::string sign(std::string_view private_pem, std::string_view message) {
  KeyPair pair;
  keyPairOf(private_pem, pair);
  std::array<unsigned char, kSignatureBytes> signature{};
  if (crypto_sign_detached(signature.data(), nullptr, bytes(message), message.size(),
                           pair.secret.data()) != 0) {
    throw CryptoError("cannot sign");
  }
  return encodeBase64(
      std::string_view(reinterpret_cast<const char*>(signature.data()), signature.size()));
}

bool verify(std::string_view public_key, std::string_view message, std::string_view signature) {
  std::string raw, sig;
  if (!rawPublicKey(public_key, raw, nullptr)) return false;
  if (!decodeBase64(signature, sig) || sig.size() != kSignatureBytes) return false;
  try {
    ready();
  } catch (const CryptoError&) {
    return false;
  }
  return crypto_sign_verify_detached(bytes(sig), bytes(message), message.size(), bytes(raw)) == 0;
}

}  // namespace meshbroker::network
