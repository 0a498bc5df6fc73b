// RSA key generation and PEM encoding through OpenSSL 3's EVP and encoder APIs.
#include "backends/tinc_keys.hpp"

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>

namespace meshbroker::backends {
namespace {

using PKeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

std::string opensslError(const std::string& what) {
  unsigned long code = ERR_get_error();
  char buffer[256] = "unknown error";
  if (code) ERR_error_string_n(code, buffer, sizeof buffer);
  ERR_clear_error();
  return what + ": " + buffer;
}

// "type-specific" structure gives PKCS#1 ("RSA PRIVATE KEY" / "RSA PUBLIC KEY"): tinc 1.0
// reads these with PEM_read_RSA*.
std::string encode(EVP_PKEY* key, int selection) {
  std::unique_ptr<OSSL_ENCODER_CTX, decltype(&OSSL_ENCODER_CTX_free)> ctx(
      OSSL_ENCODER_CTX_new_for_pkey(key, selection, "PEM", "type-specific", nullptr),
      &OSSL_ENCODER_CTX_free);
  if (!ctx || OSSL_ENCODER_CTX_get_num_encoders(ctx.get()) == 0) {
    throw KeyError(opensslError("no PEM encoder for RSA keys"));
  }
  unsigned char* data = nullptr;
  size_t length = 0;
  if (OSSL_ENCODER_to_data(ctx.get(), &data, &length) != 1) {
    throw KeyError(opensslError("cannot encode key"));
  }
  std::string pem(reinterpret_cast<char*>(data), length);
  OPENSSL_free(data);
  return pem;
}

}  // namespace

TincKeyPair generateTincKeyPair(int bits) {
  if (bits < 2048 || bits > 8192) throw KeyError("key size must be 2048..8192 bits");
  PKeyPtr key(EVP_RSA_gen(static_cast<unsigned>(bits)), &EVP_PKEY_free);
  if (!key) throw KeyError(opensslError("cannot generate RSA key"));
  return {encode(key.get(), EVP_PKEY_KEYPAIR), encode(key.get(), EVP_PKEY_PUBLIC_KEY)};
}

std::string publicKeyOf(const std::string& private_pem) {
  EVP_PKEY* raw = nullptr;
  std::unique_ptr<OSSL_DECODER_CTX, decltype(&OSSL_DECODER_CTX_free)> ctx(
      OSSL_DECODER_CTX_new_for_pkey(&raw, "PEM", nullptr, "RSA", EVP_PKEY_KEYPAIR, nullptr,
                                    nullptr),
      &OSSL_DECODER_CTX_free);
  const auto* data = reinterpret_cast<const unsigned char*>(private_pem.data());
  size_t length = private_pem.size();
  if (!ctx || OSSL_DECODER_from_data(ctx.get(), &data, &length) != 1 || !raw) {
    throw KeyError(opensslError("not an RSA private key"));
  }
  PKeyPtr key(raw, &EVP_PKEY_free);
  return encode(key.get(), EVP_PKEY_PUBLIC_KEY);
}

}  // namespace meshbroker::backends
