// tinc 1.0 RSA key pairs: made by tincd itself (`tincd -K`, so that a router's meshbroker needs
// no RSA code of its own), read and derived here in the PKCS#1 PEM tinc reads.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

namespace meshbroker::backends {

class KeyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TincKeyPair {
  std::string private_pem;  // -----BEGIN RSA PRIVATE KEY-----
  std::string public_pem;   // -----BEGIN RSA PUBLIC KEY-----
};

// A fresh RSA key pair of `bits` (2048..8192), made by `tincd -K` in a private scratch folder
// inside `folder` (which must exist; the key file's own folder, so that the private key never
// passes through a shared one) and removed after; one a killed keygen left there is removed
// first. Throws KeyError naming what failed.
TincKeyPair generateTincKeyPair(int bits, const std::filesystem::path& tincd,
                                const std::filesystem::path& folder);

// The public key of a PKCS#1 (or unencrypted PKCS#8) PEM RSA private key, as PKCS#1 PEM:
// its modulus and exponent, copied out of the DER. Throws KeyError on anything else.
std::string publicKeyOf(const std::string& private_pem);

}  // namespace meshbroker::backends
