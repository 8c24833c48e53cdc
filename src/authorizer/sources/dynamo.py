"""The shared OCSP cache table (DynamoDB): one item per certificate, the responder's raw answer.

Item: ``pk`` (S, issuer key hash hex + ``:`` + serial hex), ``response`` (B, the DER
OCSPResponse), ``expires`` (N, Unix seconds: the table's TTL attribute, the answer's
nextUpdate). Only I/O here; what an item is worth is :mod:`authorizer.revocation.ocsp_shared`'s
business (every read is verified again in full).

Calls are bounded: the client has sub-second connect and read timeouts and no retries, because
a read happens inside a decision's revocation budget (a slow table must cost less than asking
the responder).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..reasons import SourceError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def _default_client() -> DynamoDBClient:
    import boto3
    from botocore.config import Config

    cfg = Config(connect_timeout=0.25, read_timeout=0.25, retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client("dynamodb", config=cfg)


class OcspTable:
    """Get and conditionally put one OCSP answer; every failure is a :class:`SourceError`."""

    def __init__(self, table: str, client_factory: Callable[[], DynamoDBClient] | None = None) -> None:
        self.table = table
        self._factory = client_factory or _default_client
        self._client: DynamoDBClient | None = None
        self._lock = threading.Lock()
        self.gets = 0
        self.puts = 0

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return self._client

    def get(self, key: str) -> bytes | None:
        """The stored answer, or None."""
        self.gets += 1
        resp = self._call("GetItem", lambda c: c.get_item(TableName=self.table, Key={"pk": {"S": key}}))
        item = resp.get("Item")
        if not item or "response" not in item:
            return None
        value = item["response"].get("B")
        return bytes(value) if value else None

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        """The stored answers of ``keys`` (at most 100) in one BatchGetItem; a key the table
        did not process in that call is simply absent (a miss)."""
        self.gets += 1
        request: dict[str, Any] = {self.table: {"Keys": [{"pk": {"S": k}} for k in dict.fromkeys(keys)]}}
        resp = self._call("BatchGetItem", lambda c: c.batch_get_item(RequestItems=request))
        found: dict[str, bytes] = {}
        for item in resp.get("Responses", {}).get(self.table, []):
            value = item.get("response", {}).get("B")
            if value and "S" in item.get("pk", {}):
                found[item["pk"]["S"]] = bytes(value)
        return found

    def put(self, key: str, response: bytes, expires: int, replaces: bytes | None) -> bool:
        """Store ``response`` unless someone else stored another answer since we read
        ``replaces`` (None: since we found none). False when the condition failed."""
        self.puts += 1
        item: dict[str, Any] = {"pk": {"S": key}, "response": {"B": response}, "expires": {"N": str(expires)}}
        if replaces is None:
            cond: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            cond = {
                "ConditionExpression": "attribute_not_exists(pk) OR #r = :seen",
                "ExpressionAttributeNames": {"#r": "response"},
                "ExpressionAttributeValues": {":seen": {"B": replaces}},
            }
        try:
            self._call("PutItem", lambda c: c.put_item(TableName=self.table, Item=item, **cond))
        except _ConditionFailed:
            return False
        return True

    def _call(self, name: str, fn: Callable[[DynamoDBClient], Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(self.client)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == "ConditionalCheckFailedException":
                raise _ConditionFailed(self.table) from None
            raise SourceError(f"dynamodb:{self.table}", f"{name}: {code}") from None
        except BotoCoreError as exc:
            raise SourceError(f"dynamodb:{self.table}", f"{name}: {type(exc).__name__}") from None


class _ConditionFailed(SourceError):
    def __init__(self, table: str) -> None:
        super().__init__(f"dynamodb:{table}", "condition failed")
