"""SeaweedFS's security.toml for the local archive: only the S3 port answers without a secret.

`weed server` opens, besides S3, a master, a volume server and a filer, each with an HTTP and
a gRPC port, all on loopback. Out of the box none of them asks who is calling: anyone on the
machine could list the ingest bucket (another publisher's receipts) through the filer. The file
written here, in the data directory where `weed` starts (its first place to look), closes them:

- [jwt.filer_signing] and [jwt.filer_signing.read]: the filer's HTTP API reads and writes only
  with a JWT signed by a key the S3 gateway holds, and the directory metadata is not exposed;
- [jwt.signing]: the volume servers accept writes only with a JWT from the master, and their
  UI is off (a read needs a file id whose random cookie only the filer knows);
- [grpc.*]: every gRPC port (master, volume, filer, S3) demands a client certificate from the
  archive's own CA (mutual TLS), so `weed shell` and other gRPC clients without it get nothing.

The keys and the CA (made with `cryptography`, which moto, the local catalog, depends on too) are
made afresh at every start (nothing else needs them), readable only by the owner, under
<data>/weed-security/.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path

SECURITY_TOML = "security.toml"
CERT_DIR = "weed-security"
COMPONENTS = ("master", "volume", "filer", "s3", "client")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _certificates(into: Path) -> tuple[Path, Path, Path]:
    """A CA and one certificate (server and client use) it signed, for 127.0.0.1 and localhost.
    SeaweedFS does not check host names; the CA is what makes a caller one of ours."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    into.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "strongroom local archive CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "strongroom-weed")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = (into / "ca.crt", into / "weed.crt", into / "weed.key")
    _write_private(paths[0], ca.public_bytes(serialization.Encoding.PEM))
    _write_private(paths[1], cert.public_bytes(serialization.Encoding.PEM))
    _write_private(
        paths[2],
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    return paths


def write(data_dir: Path) -> Path:
    """Write <data>/security.toml (and its certificates) with fresh secrets; returns its path."""
    data_dir = Path(data_dir)
    ca, cert, key = _certificates(data_dir / CERT_DIR)
    lines = [
        "# Written by strongroom at every start (strongroom.local.weed_security); edits are lost.",
        "[jwt.signing]",
        f'key = "{secrets.token_hex(32)}"',
        "expires_after_seconds = 10",
        "",
        "[access]",
        "ui = false",
        "",
        "[filer.expose_directory_metadata]",
        "enabled = false",
        "",
        "[jwt.filer_signing]",
        f'key = "{secrets.token_hex(32)}"',
        "expires_after_seconds = 10",
        "",
        "[jwt.filer_signing.read]",
        f'key = "{secrets.token_hex(32)}"',
        "expires_after_seconds = 10",
        "",
        "[grpc]",
        f'ca = "{ca}"',
        "",
    ]
    for component in COMPONENTS:
        lines += [f"[grpc.{component}]", f'cert = "{cert}"', f'key = "{key}"', ""]
    path = data_dir / SECURITY_TOML
    _write_private(path, "\n".join(lines).encode())
    return path
