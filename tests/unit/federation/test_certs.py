"""Test certificates verify against their CA for loopback names; node keys are what Flower reads."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from fedqsar.errors import ConfigError
from fedqsar.federation.certs import (
    create_all_node_keys,
    create_node_keys,
    create_tls_certificates,
    load_node_public_key,
)


def test_server_certificate_is_signed_by_ca_and_names_loopback(tmp_path: Path) -> None:
    files = create_tls_certificates(tmp_path)
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert stat.S_IMODE(files.server_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.ca_key.stat().st_mode) == 0o600


def test_python_tls_accepts_the_chain(tmp_path: Path) -> None:
    """The stdlib TLS stack loads the server pair and trusts it through the CA only."""
    files = create_tls_certificates(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.server_cert, files.server_key)
    client_ctx = ssl.create_default_context(cafile=str(files.ca_cert))
    assert client_ctx.check_hostname is True
    assert len(client_ctx.get_ca_certs()) == 1


def test_other_hosts_and_refusal_to_overwrite(tmp_path: Path) -> None:
    files = create_tls_certificates(tmp_path, hosts=("link.example.org", "10.0.0.5"))
    server = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["link.example.org"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        create_tls_certificates(tmp_path)
    create_tls_certificates(tmp_path, overwrite=True)


def test_node_keys_are_openssh_p384_pairs(tmp_path: Path) -> None:
    files = create_node_keys("A", tmp_path)
    private = serialization.load_ssh_private_key(files.private_key.read_bytes(), None)
    public = load_node_public_key(files.public_key)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.curve.name == "secp384r1"
    assert private.public_key().public_numbers() == public.public_numbers()
    signature = private.sign(b"hello", ec.ECDSA(hashes.SHA256()))
    public.verify(signature, b"hello", ec.ECDSA(hashes.SHA256()))
    assert stat.S_IMODE(files.private_key.stat().st_mode) == 0o600


def test_every_partner_gets_a_distinct_key(tmp_path: Path) -> None:
    files = create_all_node_keys(["A", "B", "C"], tmp_path)
    publics = {files[name].public_key.read_bytes().split()[1] for name in files}
    assert len(publics) == 3


@pytest.mark.parametrize("names", [["A", "A"], ["../evil"], [""]])
def test_bad_partner_names_are_refused(tmp_path: Path, names: list[str]) -> None:
    with pytest.raises(ConfigError):
        create_all_node_keys(names, tmp_path)


def test_non_ec_public_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.pub"
    path.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEwd7fN9dDs4wJrDz0n6Xy1mDNrQe7rCjXlNn3q5d5aR x\n")
    with pytest.raises(ConfigError):
        load_node_public_key(path)
