"""The indexer's S3 writes: put and delete one object, and read the first bytes of one.

Only the CRL indexer writes (its role may put and delete ``*.idx`` under the CRL prefix and
nothing else); the authorizer never imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..reasons import SourceError
from .blob import _default_s3_client, parse_s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Objects:
    """Put, delete and range-read objects named by ``s3://`` URI; errors are SourceError."""

    def __init__(self, client_factory: Callable[[], S3Client] | None = None) -> None:
        self._factory = client_factory or _default_s3_client
        self._client: S3Client | None = None

    @property
    def client(self) -> S3Client:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def put(self, uri: str, data: bytes, *, if_match: str | None) -> bool:
        """Write ``data`` only if the object is still the one whose ETag is ``if_match`` (None:
        only if there is no object). False when someone else wrote it meanwhile."""
        bucket, key = parse_s3_uri(uri)
        cond = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}
        try:
            self._call(uri, "put_object", Bucket=bucket, Key=key, Body=data, ContentType=_BINARY, **cond)
        except _Changed:
            return False
        return True

    def delete(self, uri: str) -> None:
        bucket, key = parse_s3_uri(uri)
        self._call(uri, "delete_object", Bucket=bucket, Key=key)

    def head_bytes(self, uri: str, count: int) -> tuple[bytes | None, str | None]:
        """The first ``count`` bytes of the object and its ETag; ``(None, None)`` when there is
        no such object."""
        bucket, key = parse_s3_uri(uri)
        try:
            resp = self._call(uri, "get_object", Bucket=bucket, Key=key, Range=f"bytes=0-{count - 1}")
        except _Missing:
            return None, None
        body = resp["Body"]
        try:
            return bytes(body.read(count)), resp.get("ETag")
        finally:
            body.close()

    def _call(self, uri: str, name: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, name)(**kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = str(err.get("Code", ""))
            if code in ("NoSuchKey", "404", "InvalidRange"):
                raise _Missing(uri) from None
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                raise _Changed(uri) from None
            raise SourceError(uri, f"S3 {code}: {err.get('Message', '')}".strip()) from None
        except BotoCoreError as exc:
            raise SourceError(uri, f"S3 unreachable: {exc}") from None


class _Missing(SourceError):
    def __init__(self, uri: str) -> None:
        super().__init__(uri, "no such object")


class _Changed(SourceError):
    def __init__(self, uri: str) -> None:
        super().__init__(uri, "changed since it was read")


_BINARY = "application/octet-stream"
