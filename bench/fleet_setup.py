"""The parts bench_fleet.py runs against: moto's server (S3 and DynamoDB) and ``openssl ocsp``
on 127.0.0.1, the CRLs in S3 (indexed once by the indexer), a JSON list of the same serials,
certificates to decide."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from authorizer.devpki import CA, make_crl, to_pem
from bench_revocation import crl_der, the_ca

NOW = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
BUCKET = "fleet"
TABLE = "ocsp-cache"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Fleet:
    def __init__(self, entries: int) -> None:
        self.entries = entries

    def __enter__(self) -> Fleet:
        import boto3

        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.env = {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "BENCH_ENDPOINT": self.endpoint,
        }
        os.environ.update(self.env)
        moto = Path(sys.executable).with_name("moto_server")
        self.moto = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        self.s3 = boto3.client("s3", endpoint_url=self.endpoint)
        self.s3.create_bucket(Bucket=BUCKET)
        ddb = boto3.client("dynamodb", endpoint_url=self.endpoint)
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self._crls()
        self._ocsp()
        return self

    def _crls(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        from authorizer.indexer import Indexer
        from authorizer.revocation.crl_idx_sig import LocalSigner, public_key_der
        from authorizer.sources.blob import Fetchers, S3Fetcher
        from authorizer.sources.s3_write import S3Objects

        self.ca = the_ca()
        # The index key (KMS in the stack): the containers get its public half in the policy.
        self.signer = LocalSigner(ec.generate_private_key(ec.SECP256R1()))
        self.public_key = base64.b64encode(public_key_der(self.signer.public_key())).decode()
        self.crl, self.sample = crl_der(self.ca, self.entries)
        empty = make_crl(self.ca, (), this_update=NOW - DAY, next_update=NOW + 7 * DAY)
        s3 = self.s3
        s3.put_object(Bucket=BUCKET, Key="truststore.pem", Body=to_pem([self.ca.cert]))
        s3.put_object(Bucket=BUCKET, Key="crls/big.crl", Body=self.crl)
        s3.put_object(Bucket=BUCKET, Key="crls/empty.crl", Body=empty.public_bytes(serialization.Encoding.DER))
        indexer = Indexer(
            f"s3://{BUCKET}/crls/",
            None,
            f"s3://{BUCKET}/truststore.pem",
            fetchers=Fetchers(s3=S3Fetcher(256 * 2**20, client_factory=lambda: s3)),
            objects=S3Objects(lambda: s3),
            clock=lambda: NOW,
            signer=self.signer,
        )
        indexer.on_object(BUCKET, "crls/empty.crl")
        t = time.perf_counter()
        result = indexer.on_object(BUCKET, "crls/big.crl")
        self.index_report = f"{result.outcome} in {time.perf_counter() - t:.1f} s (validate + parse + encode, once)"
        self.index = s3.get_object(Bucket=BUCKET, Key="crls/big.crl.idx")["Body"].read()
        serials = [f"{e.serial_number:x}" for e in x509.load_der_x509_crl(self.crl)]
        s3.put_object(Bucket=BUCKET, Key="crls/big.json", Body=json.dumps({"revoked": serials}).encode())
        rng = random.Random(9)
        picks = [*rng.sample(self.sample, 5), *(rng.getrandbits(150) | 1 << 150 for _ in range(5))]
        leaves = [self.ca.issue(f"CN=fleet {i}", serial=s).cert for i, s in enumerate(picks)]
        self.chains = [[leaf, self.ca.cert] for leaf in leaves]

    def _ocsp(self) -> None:
        from tests.revocation_servers import OpenSslOcspResponder

        ca = CA.root("Fleet OCSP CA")
        leaves = [ca.issue(f"CN=fleet ocsp {i}").cert for i in range(10)]
        now = dt.datetime.now(dt.UTC)
        entries = [(leaf, now - dt.timedelta(hours=1) if i % 2 else None) for i, leaf in enumerate(leaves)]
        self.responder = OpenSslOcspResponder(ca, entries, nmin=60)
        self.ocsp_chains = [[leaf, ca.cert] for leaf in leaves]

    def spec(self, args: Any, ocsp: bool = False) -> dict[str, Any]:
        chains = self.ocsp_chains if ocsp else self.chains
        pem = [[c.public_bytes(serialization.Encoding.PEM).decode() for c in chain] for chain in chains]
        return {"chains": pem, "requests": args.requests, "responder": self.responder.url, "index_key": self.public_key}

    def __exit__(self, *exc: object) -> None:
        self.responder.close()
        self.moto.terminate()
        self.moto.wait(10)
