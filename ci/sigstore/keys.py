"""Key material for the test stack's Sigstore, made fresh at each start (tests only).

Writes into DIR: fulcio-root.pem + fulcio-root.key (password shipyard-test-fulcio: a self-signed ECDSA P-256 CA that Fulcio
issues code-signing certificates from, and the CT log accepts chains to) and ct.key + ct.pub
(the CT log's signing key, password shipyard-test-ct). Usage: keys.py DIR
"""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

out = Path(sys.argv[1])
now = datetime.datetime.now(datetime.timezone.utc)

ca_key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "shipyard-test"), x509.NameAttribute(NameOID.COMMON_NAME, "shipyard test Fulcio")])
ca = (
    x509.CertificateBuilder()
    .subject_name(name)
    .issuer_name(name)
    .public_key(ca_key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(now - datetime.timedelta(days=1))
    .not_valid_after(now + datetime.timedelta(days=3650))
    .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
    .add_extension(
        x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
        ),
        critical=True,
    )
    .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
    .sign(ca_key, hashes.SHA256())
)
pkcs8 = serialization.PrivateFormat.PKCS8
(out / "fulcio-root.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
# Fulcio's file CA wants an encrypted key: a fixed password (the key is made fresh for each start).
fulcio_password = serialization.BestAvailableEncryption(b"shipyard-test-fulcio")
(out / "fulcio-root.key").write_bytes(ca_key.private_bytes(serialization.Encoding.PEM, pkcs8, fulcio_password))

ct_key = ec.generate_private_key(ec.SECP256R1())
# ct_server refuses an unencrypted key: a fixed password (the key is made fresh for each start).
(out / "ct.key").write_bytes(
    ct_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.BestAvailableEncryption(b"shipyard-test-ct")
    )
)
(out / "ct.pub").write_bytes(ct_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
for f in ("fulcio-root.key", "ct.key"):
    (out / f).chmod(0o600)
