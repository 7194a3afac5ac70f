"""The lab's own TLS material: a throwaway certificate authority and a server certificate it signs.

Made in memory the first time a run needs it and kept for the process, so every render of a run sees
the same files (a render that changes a file restarts its hop). Never a real certificate: the names are
the lab's own, and the keys die with the process.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_NAME = "faultlab throwaway CA"
VALID = datetime.timedelta(days=2)  # a run is minutes; a day of slack either side for clocks


@dataclass(frozen=True)
class Material:
    certificate: str  # PEM: the server's, for its name, signed by the lab's CA
    key: str  # PEM: the server's private key


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@cache
def _authority() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(CA_NAME)).issuer_name(_name(CA_NAME))
          .public_key(key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - VALID).not_valid_after(now + VALID)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False),
                         critical=True)
          .sign(key, hashes.SHA256()))
    return ca, key


def authority() -> str:
    """PEM of the lab's CA: what a client that verifies the server trusts (proxy_ssl_trusted_certificate)."""
    return _authority()[0].public_bytes(serialization.Encoding.PEM).decode()


@cache
def material(server_name: str) -> Material:
    ca, ca_key = _authority()
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (x509.CertificateBuilder().subject_name(_name(server_name)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - VALID).not_valid_after(now + VALID)
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .sign(ca_key, hashes.SHA256()))
    return Material(certificate.public_bytes(serialization.Encoding.PEM).decode(),
                    key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode())
