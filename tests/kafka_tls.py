"""Certificates made in the test and a TLS-terminating relay, for the Kafka
security tests (tests/test_kafka_security*.py).

The embedded broker cannot speak TLS itself (Tansu 0.6.0 accepts --cert and
--key but never wraps its connections; docs/operations.md, "Kafka
security"), so the relay terminates TLS in front of it, as a TLS proxy or a
cloud load balancer does in front of a plaintext Kafka. Every byte behind
the handshake is the broker's own; the clients' TLS settings (CA, client
certificate, hostname check) are exercised for real.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    other_ca_file: Path  # a CA that signed nothing here: trusting it must fail
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path  # encrypted with key_password
    key_password: str


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
                 *, ca: bool = False, names: tuple[str, ...] = (), usage: x509.ObjectIdentifier | None = None
                 ) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                      content_commitment=False, key_encipherment=False,
                                                      data_encipherment=False, key_agreement=False,
                                                      encipher_only=False, decipher_only=False), critical=True)
    if names:
        alt: list[x509.GeneralName] = []
        for name in names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                alt.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey, password: str | None = None) -> Path:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return path


def make_pki(directory: Path, server_names: tuple[str, ...] = ("localhost", "127.0.0.1"),
             key_password: str = "key-pass-Ω") -> Pki:
    """A CA, a broker certificate for ``server_names`` and a client certificate
    whose key is encrypted with ``key_password``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, other_key, server_key, client_key = _key(), _key(), _key(), _key()
    ca = _certificate("koubei test CA", ca_key, "koubei test CA", ca_key, ca=True)
    other = _certificate("some other CA", other_key, "some other CA", other_key, ca=True)
    server = _certificate("kafka broker", server_key, "koubei test CA", ca_key, names=server_names,
                          usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client = _certificate("koubei-client", client_key, "koubei test CA", ca_key,
                          usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    return Pki(ca_file=_write_cert(directory / "ca.pem", ca),
               other_ca_file=_write_cert(directory / "other-ca.pem", other),
               server_cert=_write_cert(directory / "broker.pem", server),
               server_key=_write_key(directory / "broker.key", server_key),
               client_cert=_write_cert(directory / "client.pem", client),
               client_key=_write_key(directory / "client.key", client_key, key_password),
               key_password=key_password)


def server_context(pki: Pki, *, require_client_cert: bool) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    if require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca_file)
    return context


class TlsRelay:
    """Accepts TLS on 127.0.0.1:<port> and forwards the decrypted bytes to
    ``upstream`` (host, port); runs its own event loop in a thread.
    ``connections`` counts the completed TLS handshakes, ``client_names``
    records the common name of each verified client certificate."""

    def __init__(self, context: ssl.SSLContext, upstream: tuple[str, int] | None = None) -> None:
        self.context = context
        self.upstream = upstream
        self.port = 0
        self.connections = 0
        self.client_names: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="tls-relay", daemon=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        peer = writer.get_extra_info("peercert")
        if peer:
            self.client_names.extend(v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName")
        if self.upstream is None:
            # Handshake-only mode: answer one line so the client knows TLS worked.
            writer.write(b"ok\n")
            await writer.drain()
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> TlsRelay:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
