"""A throwaway CA and a server certificate for the local broker, made with openssl."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from stream.errors import BrokerError

log = logging.getLogger(__name__)

TLS_DIR = "tls"
CA_CERT = "ca.pem"
CA_KEY = "ca.key"
SERVER_CERT = "server.pem"
SERVER_KEY = "server.key"
KEYSTORE = "server.p12"
KEYSTORE_PASSWORD = "keystore.password"
VALID_DAYS = 30
# A certificate this close to expiry is replaced at the next start rather
# than left to fail in the middle of a long test run or demo.
RENEW_BEFORE_S = 2 * 24 * 3600
# Names a client may use to reach a broker bound to 127.0.0.1; hostname
# verification stays on, so both must be in the certificate.
SERVER_NAMES = "DNS:localhost,IP:127.0.0.1"
OPENSSL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class BrokerTls:
    """Where the TLS files of one broker data dir are, and the keystore password."""

    folder: Path
    keystore_password: str = field(repr=False)

    @property
    def ca_file(self) -> Path:
        """PEM of the CA that signed the broker certificate: the clients' trust."""
        return self.folder / CA_CERT

    @property
    def keystore(self) -> Path:
        """PKCS12 with the server key and its certificate chain."""
        return self.folder / KEYSTORE


def ensure_broker_tls(data_dir: Path) -> BrokerTls:
    """The broker's TLS files in DATA_DIR/tls, created or renewed as needed."""
    folder = data_dir / TLS_DIR
    password_file = folder / KEYSTORE_PASSWORD
    wanted = (CA_CERT, SERVER_CERT, KEYSTORE, KEYSTORE_PASSWORD)
    if all((folder / name).is_file() for name in wanted) and _still_valid(
        folder / SERVER_CERT
    ):
        return BrokerTls(folder, password_file.read_text().strip())

    openssl = shutil.which("openssl")
    if openssl is None:
        raise BrokerError(
            "`openssl` is not on PATH; the SASL_SSL listener of the local broker "
            "needs it to make its certificates (install the openssl package)"
        )
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)
    password = secrets.token_urlsafe(24)
    _make_ca(openssl, folder)
    _make_server_cert(openssl, folder)
    _make_keystore(openssl, folder, password)
    _write_private(password_file, password + "\n")
    for name in (CA_KEY, SERVER_KEY):
        os.chmod(folder / name, 0o600)
    log.info("made a local CA and a broker certificate in %s", folder)
    return BrokerTls(folder, password)


def _still_valid(cert: Path) -> bool:
    openssl = shutil.which("openssl")
    if openssl is None:
        return False
    done = subprocess.run(
        [openssl, "x509", "-checkend", str(RENEW_BEFORE_S), "-noout", "-in", cert],
        capture_output=True,
        timeout=OPENSSL_TIMEOUT_S,
        check=False,
    )
    return done.returncode == 0


def _make_ca(openssl: str, folder: Path) -> None:
    _openssl(
        openssl,
        folder,
        "req -x509 -newkey rsa:2048 -nodes -sha256",
        "-keyout",
        CA_KEY,
        "-out",
        CA_CERT,
        "-days",
        str(VALID_DAYS),
        "-subj",
        "/CN=Scorestream local test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )


def _make_server_cert(openssl: str, folder: Path) -> None:
    _openssl(
        openssl,
        folder,
        "req -newkey rsa:2048 -nodes -sha256",
        "-keyout",
        SERVER_KEY,
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    )
    extensions = folder / "server.ext"
    extensions.write_text(
        f"subjectAltName={SERVER_NAMES}\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    _openssl(
        openssl,
        folder,
        "x509 -req -sha256 -CAcreateserial",
        "-in",
        "server.csr",
        "-CA",
        CA_CERT,
        "-CAkey",
        CA_KEY,
        "-out",
        SERVER_CERT,
        "-days",
        str(VALID_DAYS),
        "-extfile",
        extensions.name,
    )


def _make_keystore(openssl: str, folder: Path, password: str) -> None:
    # The password goes through the environment, not argv, where any local
    # user could read it from the process list.
    _openssl(
        openssl,
        folder,
        "pkcs12 -export -name kafka",
        "-in",
        SERVER_CERT,
        "-inkey",
        SERVER_KEY,
        "-certfile",
        CA_CERT,
        "-out",
        KEYSTORE,
        "-passout",
        "env:SCORESTREAM_KEYSTORE_PASSWORD",
        env={"SCORESTREAM_KEYSTORE_PASSWORD": password},
    )
    os.chmod(folder / KEYSTORE, 0o600)


def _openssl(
    openssl: str,
    folder: Path,
    command: str,
    *args: str,
    env: dict[str, str] | None = None,
) -> None:
    cmd = [openssl, *command.split(), *args]
    done = subprocess.run(
        cmd,
        cwd=folder,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=OPENSSL_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise BrokerError(
            f"`openssl {command}` failed in {folder} (exit {done.returncode}):\n"
            f"{output[-2000:]}"
        )


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
