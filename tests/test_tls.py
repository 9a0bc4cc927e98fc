"""
TLS, over real TCP on port 0: an `ssl:` listener serves chat end to end, and a connection that
switches to TLS midway (startTLS) never gets a byte that skipped the TLS layer.
"""

from __future__ import annotations

import datetime

import pytest
import pytest_twisted
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import defer, endpoints, reactor, ssl

from littlecats.tap import Options, makeService
from tests.helpers import LineClient


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str, bytes]:
    """A self-signed certificate for localhost: (key path, certificate path, certificate PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_path.write_bytes(pem)
    return str(key_path), str(cert_path), pem


def _start(listen: list[str]):
    options = Options()
    args = ["--flood-rate", "0"]
    for description in listen:
        args += ["--listen", description]
    options.parseOptions([*args, "--db", "memory:"])
    top = makeService(options, reactor=reactor)
    top.privilegedStartService()
    top.startService()
    listeners = [s for s in top if s.name and s.name.startswith("listen")]
    ports = [pytest_twisted.blockon(listener._waitingForPort) for listener in listeners]
    return top, [port.getHost().port for port in ports], listeners[0].factory.door


@pytest.fixture
def servers(certificate):
    """A server with a TLS listener and a plain one; everything closed after the test."""
    key, cert, _ = certificate
    top, ports, door = _start(
        [f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}", "tcp:0:interface=127.0.0.1"]
    )
    clients: list[LineClient] = []
    yield ports, door, clients
    for client in clients:
        client.transport.abortConnection()
    pytest_twisted.blockon(defer.DeferredList([c.closed for c in clients]))
    pytest_twisted.blockon(defer.maybeDeferred(top.stopService))


def _client_options(pem: bytes) -> ssl.IOpenSSLClientConnectionCreator:
    return ssl.optionsForClientTLS("localhost", trustRoot=ssl.Certificate.loadPEM(pem))


async def _join(client: LineClient, nick: str) -> None:
    assert (await client.expect(2))[-1] == "Escolha seu apelido:"
    client.say(nick)
    assert await client.expect(1) == [f"*** O cliente {nick} entrou no chat dos Little Cats."]


@pytest_twisted.ensureDeferred
async def test_tls_listener_chats_end_to_end(servers, certificate):
    """A TLS client and a plain client chat through one server, each reading the other."""
    (tls_port, plain_port), _door, clients = servers
    endpoint = endpoints.wrapClientTLS(
        _client_options(certificate[2]),
        endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", tls_port),
    )
    secure = await endpoints.connectProtocol(endpoint, LineClient())
    clients.append(secure)
    await _join(secure, "ana")
    plain = await endpoints.connectProtocol(
        endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", plain_port), LineClient()
    )
    clients.append(plain)
    await _join(plain, "bia")
    assert await secure.expect(1) == ["*** O cliente bia entrou no chat dos Little Cats."]
    plain.say("olá, ana")
    assert await secure.expect(1) == ["<bia> olá, ana"]
    secure.say("/join #seguro")
    assert await secure.expect(2) == [
        "*** ana entrou na sala #seguro.",
        "*** Na sala #seguro (1): ana",
    ]
    secure.say("/msg bia oi")
    assert await plain.wait_for("[privado de ana] oi")


@pytest_twisted.ensureDeferred
async def test_start_tls_midway_never_bypasses_tls(servers, certificate):
    """After a connection switches to TLS, everything it receives comes through TLS (the
    fan-out's direct socket send would otherwise slip plaintext into the TLS stream)."""
    (_tls_port, plain_port), door, clients = servers
    key, cert, pem = certificate
    plain_endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", plain_port)
    switching = await endpoints.connectProtocol(plain_endpoint, LineClient())
    clients.append(switching)
    await _join(switching, "ana")
    talker = await endpoints.connectProtocol(plain_endpoint, LineClient())
    clients.append(talker)
    await _join(talker, "bia")
    assert await switching.expect(1) == ["*** O cliente bia entrou no chat dos Little Cats."]
    # Both ends switch to TLS; a STARTTLS command would do this in a real door.
    (session,) = [s for s in door.sessions.values() if s.member and s.member.nick == "ana"]
    server_options = ssl.PrivateCertificate.loadPEM(
        open(key, "rb").read() + open(cert, "rb").read()  # noqa: SIM115
    ).options()
    session.transport.startTLS(server_options)
    switching.transport.startTLS(_client_options(pem))
    # One line at a time: once the handshake's bytes are flushed, the server's buffers are
    # empty, which is when a direct send would be tempted to skip the TLS layer.
    for i in range(5):
        talker.say(f"linha {i}")
        assert await switching.expect(1) == [f"<bia> linha {i}"]
    assert session.transport.TLS
