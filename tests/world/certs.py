# SPDX-License-Identifier: ISC
"""certs - run-time PKI for the test world.

Generates a trusted test root CA, an unrelated "untrusted" CA and leaf
certificates of every shape the fetch scenarios need (RFC 8461 §3.3 and
RFC 6125 rules: DNS-ID only, wildcard only as the whole left-most label).
Nothing is stored in the source tree; every run makes fresh keys.
Requires Debian's python3-cryptography.
"""

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Leaf kinds understood by Pki.leaf().
KINDS = ("good", "expired", "notyet", "wrongname", "selfsigned", "untrusted",
         "cnonly", "wildcard", "partialwild")

DAY = datetime.timedelta(days=1)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


class Pki:
    """A directory of PEM files: ca.pem (trusted), untrusted-ca.pem, leaves."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        # One leaf key for every leaf keeps generation fast; the scenarios
        # test certificate validation, not key diversity.
        self.leaf_key = ec.generate_private_key(ec.SECP256R1())
        self.leaf_key_path = os.path.join(directory, "leaf-key.pem")
        _write(self.leaf_key_path, self._key_pem(self.leaf_key))
        self.ca_key, self.ca_cert = self._make_ca("World Test Root CA")
        self.bad_key, self.bad_cert = self._make_ca("Untrusted Other CA")
        self.ca_file = os.path.join(directory, "ca.pem")
        _write(self.ca_file, self.ca_cert.public_bytes(
            serialization.Encoding.PEM))
        self.untrusted_ca_file = os.path.join(directory, "untrusted-ca.pem")
        _write(self.untrusted_ca_file, self.bad_cert.public_bytes(
            serialization.Encoding.PEM))
        self._cache = {}

    @staticmethod
    def _key_pem(key):
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def _make_ca(self, cn):
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder()
                .subject_name(_name(cn)).issuer_name(_name(cn))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - DAY).not_valid_after(now + 30 * DAY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                               critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=False,
                    key_encipherment=False, data_encipherment=False,
                    key_agreement=False, key_cert_sign=True, crl_sign=True,
                    encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                    key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        return key, cert

    def leaf(self, host, kind="good"):
        """Return (cert_path, key_path) for host, generated on first use.

        host is the policy host name (mta-sts.<domain>); kind one of KINDS.
        """
        if kind not in KINDS:
            raise ValueError("unknown certificate kind %r" % kind)
        k = (host, kind)
        if k in self._cache:
            return self._cache[k]
        now = datetime.datetime.now(datetime.timezone.utc)
        before, after = now - DAY, now + 30 * DAY
        issuer_key, issuer_cert = self.ca_key, self.ca_cert
        cn = host
        sans = [host]
        parent = host.split(".", 1)[1] if "." in host else host
        if kind == "expired":
            before, after = now - 30 * DAY, now - DAY
        elif kind == "notyet":
            before, after = now + DAY, now + 30 * DAY
        elif kind == "wrongname":
            cn = "other-name.invalid-host.test"
            sans = [cn, parent]
        elif kind == "selfsigned":
            issuer_key, issuer_cert = self.leaf_key, None
        elif kind == "untrusted":
            issuer_key, issuer_cert = self.bad_key, self.bad_cert
        elif kind == "cnonly":
            sans = []
        elif kind == "wildcard":
            cn = "*." + parent
            sans = [parent, "*." + parent]
        elif kind == "partialwild":
            # mta*.<domain>: RFC 8461 §3.3 only allows a complete label.
            cn = "mta*." + parent
            sans = ["mta*." + parent]
        b = (x509.CertificateBuilder()
             .subject_name(_name(cn))
             .issuer_name(issuer_cert.subject if issuer_cert else _name(cn))
             .public_key(self.leaf_key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(before).not_valid_after(after)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                            critical=True)
             .add_extension(x509.ExtendedKeyUsage(
                 [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(s) for s in sans]), critical=False)
        if issuer_cert is not None:
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    issuer_cert.public_key()), critical=False)
        cert = b.sign(issuer_key, hashes.SHA256())
        path = os.path.join(self.dir, "%s.%s.pem" % (host, kind))
        _write(path, cert.public_bytes(serialization.Encoding.PEM))
        self._cache[k] = (path, self.leaf_key_path)
        return self._cache[k]
