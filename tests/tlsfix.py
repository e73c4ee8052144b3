"""A test CA and server certificates written to files, for HTTPS tests (trustme).

``TestCA`` holds one CA; :meth:`TestCA.issue` writes a server certificate (for 127.0.0.1,
::1 and localhost) as ``cert.pem`` (the leaf, then the chain) and ``key.pem``; the CA's own
certificate is :attr:`TestCA.ca_file`, the file a client trusts: ``SSL_CERT_FILE`` for the
go command (Go's crypto/tls on Linux honours it), :meth:`TestCA.client_context` for Python.

The ``tls_ca`` fixture (pytest: ``from tlsfix import tls_ca``) gives a fresh CA in the test's
own directory; ``tls_files`` its first server certificate and key.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cryptography import x509

__all__ = ["ServerFiles", "TestCA", "peer_serial", "tls_ca", "tls_files"]

HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ServerFiles:
    """A server certificate (PEM, chain included) and its key, as files."""

    cert: Path
    key: Path
    serial: int

    def args(self) -> tuple[str, str, str, str]:
        """The ``goproxy serve`` flags that serve HTTPS with them."""
        return ("--tls-cert", str(self.cert), "--tls-key", str(self.key))


class TestCA:
    """A test certificate authority whose certificate is written to ``<directory>/ca.pem``."""

    __test__ = False  # not a test class

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = trustme.CA()
        self.ca_file = directory / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def issue(
        self, name: str = "server", *, cert: Path | None = None, key: Path | None = None
    ) -> ServerFiles:
        """A new server certificate (a new serial each time), written to ``cert`` and ``key``
        (default: ``<directory>/<name>.cert.pem`` and ``.key.pem``); files there are replaced
        whole (a rename), as a renewal would."""
        issued = self.ca.issue_cert(*HOSTS)
        cert = cert or self.directory / f"{name}.cert.pem"
        key = key or self.directory / f"{name}.key.pem"
        _replace(cert, b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        _replace(key, issued.private_key_pem.bytes())
        leaf = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
        return ServerFiles(cert, key, leaf.serial_number)

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA only (hostname checked)."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def env(self) -> dict[str, str]:
        """Variables that make a client trust this CA (the go command, curl)."""
        return {"SSL_CERT_FILE": str(self.ca_file)}


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def peer_serial(sock: ssl.SSLSocket) -> int:
    """The serial number of the certificate the server showed on ``sock``."""
    der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


@pytest.fixture
def tls_ca(tmp_path: Path) -> TestCA:
    """A fresh test CA in the test's directory."""
    return TestCA(tmp_path / "tls")


@pytest.fixture
def tls_files(tls_ca: TestCA) -> ServerFiles:
    """A server certificate and key from ``tls_ca``."""
    return tls_ca.issue()
