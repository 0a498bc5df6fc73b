#include "network/signing.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <array>
#include <memory>

namespace meshbroker::network {
namespace {

constexpr std::string_view kKeyPrefix = "ed25519:";
constexpr std::string_view kFingerprintPrefix = "sha256:";
constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kSignatureBytes = 64;

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, CtxFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

std::string opensslError(const std::string& what) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return what;
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return what + " (" + text + ")";
}

Pkey privateKey(std::string_view pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw CryptoError(opensslError("out of memory"));
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) throw CryptoError(opensslError("not a PEM private key"));
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    throw CryptoError("the signing key is not an Ed25519 key");
  }
  return key;
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

std::string encodeBase64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool decodeBase64(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 != 0) return false;
  if (text.empty()) return true;
  out.resize(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return false;
  std::size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  // Canonical only (EVP_DecodeBlock also skips surrounding blanks and ignores the bits under
  // the padding): one text per byte string.
  return encodeBase64(out) == text;
}

std::string generateSigningKey() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) throw CryptoError(opensslError("cannot make an Ed25519 key"));
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    throw CryptoError(opensslError("cannot write the key as PEM"));
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string publicKeyOf(std::string_view private_pem) {
  const auto key = privateKey(private_pem);
  std::array<unsigned char, kKeyBytes> raw{};
  std::size_t size = raw.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), raw.data(), &size) != 1 || size != kKeyBytes) {
    throw CryptoError(opensslError("cannot read the public key"));
  }
  return std::string(kKeyPrefix) +
         encodeBase64(std::string_view(reinterpret_cast<const char*>(raw.data()), size));
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

std::string sha256(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    throw CryptoError(opensslError("cannot hash"));
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), size);
}

std::string randomBytes(std::size_t count) {
  std::string out(count, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(count)) != 1) {
    throw CryptoError(opensslError("no random bytes"));
  }
  return out;
}

std::string sign(std::string_view private_pem, std::string_view message) {
  const auto key = privateKey(private_pem);
  MdCtx ctx(EVP_MD_CTX_new());
  std::array<unsigned char, kSignatureBytes> signature{};
  std::size_t size = signature.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), signature.data(), &size,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    throw CryptoError(opensslError("cannot sign"));
  }
  return encodeBase64(std::string_view(reinterpret_cast<const char*>(signature.data()), size));
}

bool verify(std::string_view public_key, std::string_view message, std::string_view signature) {
  std::string raw, sig;
  if (!rawPublicKey(public_key, raw, nullptr)) return false;
  if (!decodeBase64(signature, sig) || sig.size() != kSignatureBytes) return false;
  Pkey key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(raw.data()), raw.size()));
  MdCtx ctx(EVP_MD_CTX_new());
  if (!key || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    ERR_clear_error();
    return false;
  }
  const int ok =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ERR_clear_error();
  return ok == 1;
}

}  // namespace meshbroker::network
