// tinc 1.0 RSA key pairs: generated with OpenSSL, written in the PKCS#1 PEM tinc reads.
#pragma once

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

// A fresh RSA key pair of the given size (bits). Throws KeyError.
TincKeyPair generateTincKeyPair(int bits);

// The public key of a PKCS#1 (or PKCS#8) PEM private key, as PKCS#1 PEM. Throws KeyError.
std::string publicKeyOf(const std::string& private_pem);

}  // namespace meshbroker::backends
