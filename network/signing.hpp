// The registry's signature over the network document: Ed25519 through libsodium (small enough
// for a router's static build; OpenSSL stays with the OpenVPN PKI). Keys travel as
// text: the private key as PKCS#8 PEM (only on the registry, 0600), the public key as
// "ed25519:<base64 of its 32 bytes>" (pinned in every node's config), and its fingerprint as
// "sha256:<base64url of SHA-256 of those bytes>" (what an invitation carries). Pure: no files.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace meshbroker::network {

struct CryptoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A new Ed25519 private key, PKCS#8 PEM.
std::string generateSigningKey();

// The public half of a private key ("ed25519:..."); CryptoError on anything but an Ed25519 key.
std::string publicKeyOf(std::string_view private_pem);

// True when `text` is a well-formed "ed25519:..." public key; `why` says what is wrong.
bool isPublicKey(std::string_view text, std::string* why = nullptr);

// "sha256:..." of a public key ("ed25519:..."); CryptoError when it is not one.
std::string fingerprintOf(std::string_view public_key);

// The base64 signature of `message`; CryptoError when the key is not an Ed25519 private key.
std::string sign(std::string_view private_pem, std::string_view message);

// True only when `signature` (base64) is `public_key`'s signature of exactly `message`.
// Garbage anywhere is false, never an exception.
bool verify(std::string_view public_key, std::string_view message, std::string_view signature);

// Strict, canonical base64 (RFC 4648 §4, padded): false on anything else, with `out` empty.
bool decodeBase64(std::string_view text, std::string& out);
// base64url without padding (fingerprints, invitation tokens: they go into one-line URLs).
std::string encodeBase64Url(std::string_view bytes);
// SHA-256 of bytes (32 raw bytes); HMAC-SHA256 (32 raw bytes) of `message` under `key`;
// `count` random bytes from the kernel. CryptoError when no random source can be had.
std::string sha256(std::string_view bytes);
std::string hmacSha256(std::string_view key, std::string_view message);
// a == b, in a time that depends only on their sizes (MACs, digests).
bool equalInConstantTime(std::string_view a, std::string_view b);
std::string randomBytes(std::size_t count);
std::string encodeBase64(std::string_view bytes);

}  // namespace meshbroker::network
