"""Run the ``openssl`` command line the way an operator would, in a scratch folder.

The recipes in this package are made by the real tool, not by ``cryptography``, because the
certificates people load into API Gateway come out of ``openssl req``/``openssl x509`` with
OpenSSL's own defaults (v1 certificates, no keyUsage on a default-config root, ...). Every call
is bounded by a timeout and fails loudly with OpenSSL's own message.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from cryptography import x509

OPENSSL_TIMEOUT = 30.0


class OpenSSL:
    """``openssl`` in one folder: relative file names in arguments are files of that folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, *args: str) -> str:
        done = subprocess.run(
            ["openssl", *args],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=OPENSSL_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"openssl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def write(self, name: str, text: str) -> Path:
        path = self.folder / name
        path.write_text(text)
        return path

    def path(self, name: str) -> Path:
        return self.folder / name

    def cert(self, name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.path(name).read_bytes())

    def pem(self, name: str) -> str:
        return self.path(name).read_text()

    def bundle(self, name: str, *members: str) -> Path:
        """Concatenate PEM files into ``name`` (a truststore as API Gateway reads it)."""
        return self.write(name, "".join(self.pem(m) for m in members))

    # -- the usual steps ---------------------------------------------------------------------

    def rsa_key(self, name: str, bits: int = 2048) -> None:
        self("genrsa", "-out", name, str(bits))

    def ec_key(self, name: str, curve: str = "prime256v1") -> None:
        self("ecparam", "-genkey", "-name", curve, "-noout", "-out", name)

    def csr(self, key: str, out: str, subj: str, *extra: str) -> None:
        self("req", "-new", "-key", key, "-out", out, "-subj", subj, *extra)

    def sign(
        self,
        csr: str,
        out: str,
        ca: str,
        ca_key: str,
        *,
        serial: str = "01",
        days: int = 3650,
        extfile: str | None = None,
        section: str | None = None,
        digest: str = "-sha256",
    ) -> None:
        """``openssl x509 -req``: what the blog post and most runbooks do."""
        args = ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial", serial]
        args += ["-out", out, "-days", str(days), digest]
        if extfile is not None:
            args += ["-extfile", extfile]
            if section is not None:
                args += ["-extensions", section]
        self(*args)

    def self_signed(
        self, key: str, out: str, subj: str, *, config: str | None = None, section: str | None = None
    ) -> None:
        """``openssl req -new -x509``: with ``config=None`` OpenSSL's default configuration."""
        args = ["req", "-new", "-x509", "-key", key, "-out", out, "-days", "7300", "-subj", subj, "-sha256"]
        if config is not None:
            args += ["-config", config]
            if section is not None:
                args += ["-extensions", section]
        self(*args)


def validation_time(*certs: x509.Certificate) -> dt.datetime:
    """The fixed instant the recipe is judged at: one hour after the latest notBefore.

    ``openssl req -x509`` and ``openssl x509 -req`` (OpenSSL 3.0) stamp "now" as notBefore and
    cannot be told otherwise, so the time is fixed relative to the certificates, never read from
    the clock.
    """
    return max(c.not_valid_before_utc for c in certs) + dt.timedelta(hours=1)


#: A minimal configuration for ``openssl req -x509 -config`` (distinguished name from -subj).
REQ_PREAMBLE = """\
[ req ]
distinguished_name = dn
prompt = no
string_mask = utf8only
[ dn ]
CN = unused
"""
