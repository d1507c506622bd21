"""Test certificates and SuperNode authentication keys for a Flower deployment.

Two kinds of key material, both made with the ``cryptography`` package (no openssl):

- TLS: a self-signed CA and a server certificate signed by it, valid for ``127.0.0.1``,
  ``::1`` and ``localhost`` (plus any extra host names/IPs given). The SuperLink serves
  TLS with ``server.pem``/``server.key`` and ``ca.pem``; SuperNodes and the ``flwr`` CLI
  trust ``ca.pem``.
- Node authentication: one ECDSA key pair per partner on NIST P-384, in OpenSSH format
  (what ``flower-supernode --auth-supernode-private-key`` and ``flwr supernode register``
  read). The public key is registered at the SuperLink; the private key never leaves the
  partner.

These are *test* certificates: for production use certificates from your organisation's CA.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fedqsar.errors import ConfigError

DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")
NODE_KEY_CURVE = ec.SECP384R1
TLS_KEY_CURVE = ec.SECP384R1


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the TLS material written by ``create_tls_certificates``."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


@dataclass(frozen=True)
class NodeKeyFiles:
    """Paths of one SuperNode's authentication key pair."""

    name: str
    private_key: Path
    public_key: Path


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _pem_private(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _subject_alt_names(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _ca_certificate(key: ec.EllipticCurvePrivateKey, now: dt.datetime, days: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedqsar test CA")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: Sequence[str],
    now: dt.datetime,
    days: int,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(_subject_alt_names(hosts), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA384())
    )


def create_tls_certificates(
    out: Path, hosts: Sequence[str] = DEFAULT_HOSTS, days: int = 30, overwrite: bool = False
) -> TlsFiles:
    """Write a test CA and a server certificate for ``hosts`` into ``out``.

    Parameters
    ----------
    out
        Folder to write ``ca.pem``, ``ca.key``, ``server.pem``, ``server.key`` into.
    hosts
        IP addresses and DNS names the server certificate is valid for (first = common name).
    days
        Validity in days.
    overwrite
        Replace existing files; otherwise refuse with ``ConfigError``.
    """
    if not hosts:
        raise ConfigError("no host names given for the server certificate", "pass e.g. 127.0.0.1 localhost")
    out = Path(out)
    files = TlsFiles(out / "ca.pem", out / "ca.key", out / "server.pem", out / "server.key")
    _refuse_overwrite([files.ca_cert, files.ca_key, files.server_cert, files.server_key], overwrite)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(TLS_KEY_CURVE())
    ca_cert = _ca_certificate(ca_key, now, days)
    server_key = ec.generate_private_key(TLS_KEY_CURVE())
    server_cert = _server_certificate(server_key, ca_key, ca_cert, list(hosts), now, days)
    _write_private(files.ca_key, _pem_private(ca_key))
    _write_public(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(files.server_key, _pem_private(server_key))
    _write_public(files.server_cert, server_cert.public_bytes(serialization.Encoding.PEM))
    return files


def create_node_keys(name: str, out: Path, overwrite: bool = False) -> NodeKeyFiles:
    """Write one SuperNode's ECDSA P-384 key pair in OpenSSH format.

    Files: ``out/<name>`` (private, mode 0600) and ``out/<name>.pub`` (public, to register
    at the SuperLink).
    """
    _check_node_name(name)
    out = Path(out)
    files = NodeKeyFiles(name, out / name, out / f"{name}.pub")
    _refuse_overwrite([files.private_key, files.public_key], overwrite)
    key = ec.generate_private_key(NODE_KEY_CURVE())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    _write_private(files.private_key, private)
    _write_public(files.public_key, public + f" fedqsar-{name}\n".encode())
    return files


def create_all_node_keys(names: Sequence[str], out: Path, overwrite: bool = False) -> dict[str, NodeKeyFiles]:
    """``create_node_keys`` for every name; returns ``{name: NodeKeyFiles}``."""
    if len(set(names)) != len(names):
        raise ConfigError(f"partner names {list(names)} are not unique", "give every partner its own name")
    return {name: create_node_keys(name, out, overwrite) for name in names}


def load_node_public_key(path: Path) -> ec.EllipticCurvePublicKey:
    """Read an OpenSSH public key and check it is on a NIST curve (what Flower accepts)."""
    try:
        key = serialization.load_ssh_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read node public key {path}: {exc}", "create it with `fedqsar deploy node-keys`"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not key.curve.name.startswith("secp"):
        raise ConfigError(
            f"node public key {path} is not an ECDSA key on a NIST curve", "create it with `fedqsar deploy node-keys`"
        )
    return key


def _check_node_name(name: str) -> None:
    if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
        raise ConfigError(f"partner name {name!r} cannot name a key file", "use letters, digits, '-' and '_' only")


def _refuse_overwrite(paths: Sequence[Path], overwrite: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise ConfigError(
            f"refusing to overwrite existing key material: {', '.join(existing)}",
            "choose another --out folder or pass --overwrite",
        )
