"""The catalog in one DynamoDB table (pk/sk), shared with powertools' idempotency records.

Layout: AU#<au> / AU          the AuRecord
        AU#<au> / EVENT#<at>#<uuid>   its PREMIS events (also for PACKAGE#<key> of rejected packages)
        LOCK#<name> / LOCK    a lease serialising ingests of one AU
        RELEASE#<id> / RELEASE  a release (strongroom.domain.release), `revision` for conditional writes
Items are JSON in a `doc` attribute: the record shapes live in the domain, not here.

AU items also carry the keys of two sparse global secondary indexes (template.yaml declares
them), so no flow has to scan the table to find AUs:
        by-title   title_key = publisher/title, pk         (aus_of_title)
        by-poll    poll_shard = 00..15, polled = poll_order_key   (poll_candidates)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from strongroom.domain.catalog import (
    NEVER_POLLED,
    POLL_SHARDS,
    AuRecord,
    StaleWrite,
    poll_order_key,
    poll_shard,
    poll_time_key,
    title_of,
)
from strongroom.domain.premis import PremisEvent

if TYPE_CHECKING:  # development-only stubs
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        ConditionTypeDef,
        PutItemInputTypeDef,
        ScanInputTypeDef,
        WriteRequestOutputTypeDef,
        WriteRequestTypeDef,
    )

IDEMPOTENCY_PK = "IDEMPOTENCY"
TITLE_INDEX = "by-title"
POLL_INDEX = "by-poll"


def _object_pk(object_id: str) -> str:
    return ("PACKAGE#" if object_id.startswith("incoming/") else "AU#") + object_id


class DynamoCatalog:
    def __init__(self, client: DynamoDBClient, table: str):
        self.client = client
        self.table = table

    def put_au(self, record: AuRecord) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": f"AU#{record.au}"},
                "sk": {"S": "AU"},
                "doc": {"S": json.dumps(record.as_dict(), sort_keys=True)},
                "title_key": {"S": title_of(record.au)},
                "poll_shard": {"S": poll_shard(record.au)},
                "polled": {"S": poll_order_key(record)},
            },
        )

    def get_au(self, au: str) -> AuRecord | None:
        r = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": f"AU#{au}"}, "sk": {"S": "AU"}}, ConsistentRead=True
        )
        item = r.get("Item")
        return AuRecord.from_dict(json.loads(item["doc"]["S"])) if item else None

    def list_aus(self) -> list[AuRecord]:
        records = [
            AuRecord.from_dict(json.loads(item["doc"]["S"]))
            for item in self._scan({"sk": {"AttributeValueList": [{"S": "AU"}], "ComparisonOperator": "EQ"}})
        ]
        return sorted(records, key=lambda r: r.au)

    def aus_of_title(self, title: str) -> list[AuRecord]:
        items = self._query(
            IndexName=TITLE_INDEX,
            KeyConditionExpression="title_key = :t",
            ExpressionAttributeValues={":t": {"S": title.strip("/")}},
        )
        return sorted((AuRecord.from_dict(json.loads(i["doc"]["S"])) for i in items), key=lambda r: r.au)

    def poll_candidates(self, polled_before: datetime, limit: int) -> list[AuRecord]:
        # The global first `limit` of each kind are among the first `limit` of every shard: read
        # those (at most POLL_SHARDS x limit entries) and merge.
        never: list[tuple[str, AuRecord]] = []
        polled: list[tuple[str, AuRecord]] = []
        upper = poll_time_key(polled_before) + "$"  # '$' sorts after the '#' that ends a poll time
        for n in range(POLL_SHARDS):
            shard = {":s": {"S": f"{n:02d}"}}
            never += self._index_entries(
                limit,
                KeyConditionExpression="poll_shard = :s AND begins_with(polled, :n)",
                ExpressionAttributeValues={**shard, ":n": {"S": NEVER_POLLED}},
                ScanIndexForward=False,
            )
            polled += self._index_entries(
                limit,
                KeyConditionExpression="poll_shard = :s AND polled BETWEEN :lo AND :hi",
                ExpressionAttributeValues={**shard, ":lo": {"S": "1"}, ":hi": {"S": upper}},
            )
        never.sort(key=lambda e: e[0], reverse=True)
        polled.sort(key=lambda e: e[0])
        return [r for _, r in never[:limit]] + [r for _, r in polled[:limit]]

    def _index_entries(self, limit: int, **query) -> list[tuple[str, AuRecord]]:
        out: list[tuple[str, AuRecord]] = []
        for item in self._query(IndexName=POLL_INDEX, Limit=limit, **query):
            out.append((item["polled"]["S"], AuRecord.from_dict(json.loads(item["doc"]["S"]))))
            if len(out) >= limit:
                break
        return out

    def _query(self, **query):
        kwargs = {"TableName": self.table, **query}
        while True:
            r = self.client.query(**kwargs)
            yield from r.get("Items", [])
            if "LastEvaluatedKey" not in r:
                return
            kwargs["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    def add_events(self, events: list[PremisEvent]) -> None:
        # 25 to a request (BatchWriteItem's most), which refuses one key twice in a request: the last wins.
        items = {(_object_pk(e.object), f"EVENT#{e.at}#{e.identifier}"): e for e in events}
        requests: list[WriteRequestTypeDef] = [
            {
                "PutRequest": {
                    "Item": {"pk": {"S": pk}, "sk": {"S": sk}, "doc": {"S": json.dumps(e.as_dict(), sort_keys=True)}}
                }
            }
            for (pk, sk), e in items.items()
        ]
        for start in range(0, len(requests), 25):
            self._batch_write(requests[start : start + 25])

    def _batch_write(self, requests: list[WriteRequestTypeDef]) -> None:
        """Write until DynamoDB has taken every item (it hands back what it throttled), backing off."""
        pending: Sequence[WriteRequestTypeDef | WriteRequestOutputTypeDef] = requests
        delay = 0.05
        while pending:
            r = self.client.batch_write_item(RequestItems={self.table: pending})
            pending = r.get("UnprocessedItems", {}).get(self.table, [])
            if pending:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def events(self, object_id: str) -> list[PremisEvent]:
        items = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :ev)",
            ExpressionAttributeValues={":pk": {"S": _object_pk(object_id)}, ":ev": {"S": "EVENT#"}},
            ConsistentRead=True,
        )
        return [PremisEvent.from_dict(json.loads(i["doc"]["S"])) for i in items]

    def try_lock(self, name: str, owner: str, now: float, seconds: float) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": f"LOCK#{name}"},
                    "sk": {"S": "LOCK"},
                    "owner": {"S": owner},
                    "until": {"N": str(now + seconds)},
                },
                ConditionExpression="attribute_not_exists(pk) OR #u < :now OR #o = :me",
                ExpressionAttributeNames={"#u": "until", "#o": "owner"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":me": {"S": owner}},
            )
            return True
        except ClientError as e:
            if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def unlock(self, name: str, owner: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key={"pk": {"S": f"LOCK#{name}"}, "sk": {"S": "LOCK"}},
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        except ClientError as e:
            if e.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def clear(self) -> None:
        for item in self._scan(None):
            if item["pk"]["S"] == IDEMPOTENCY_PK or item["pk"]["S"].startswith("RELEASE#"):
                continue  # release decisions are not derived from the nodes: a rebuild keeps them
            self.client.delete_item(TableName=self.table, Key={"pk": item["pk"], "sk": item["sk"]})

    def get_release(self, release_id: str) -> dict | None:
        r = self.client.get_item(
            TableName=self.table,
            ConsistentRead=True,
            Key={"pk": {"S": f"RELEASE#{release_id}"}, "sk": {"S": "RELEASE"}},
        )
        item = r.get("Item")
        return json.loads(item["doc"]["S"]) if item else None

    def list_releases(self) -> list[dict]:
        docs = [
            json.loads(item["doc"]["S"])
            for item in self._scan({"sk": {"AttributeValueList": [{"S": "RELEASE"}], "ComparisonOperator": "EQ"}})
        ]
        return sorted(docs, key=lambda d: (d.get("proposed_at", ""), d["id"]))

    def put_release(self, doc: dict, expected_revision: int) -> None:
        put: PutItemInputTypeDef = {
            "TableName": self.table,
            "Item": {
                "pk": {"S": f"RELEASE#{doc['id']}"},
                "sk": {"S": "RELEASE"},
                "revision": {"N": str(doc["revision"])},
                "doc": {"S": json.dumps(doc, sort_keys=True)},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if expected_revision != 0:
            put["ConditionExpression"] = "#r = :expected"
            put["ExpressionAttributeNames"] = {"#r": "revision"}
            put["ExpressionAttributeValues"] = {":expected": {"N": str(expected_revision)}}
        try:
            self.client.put_item(**put)
        except ClientError as e:
            if e.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StaleWrite(f"release {doc['id']} changed since revision {expected_revision}") from None
            raise

    def _scan(self, scan_filter: dict[str, ConditionTypeDef] | None) -> Iterator[dict[str, AttributeValueTypeDef]]:
        kwargs: ScanInputTypeDef = {"TableName": self.table, "ConsistentRead": True}
        if scan_filter:
            kwargs["ScanFilter"] = scan_filter
        while True:
            r = self.client.scan(**kwargs)
            yield from r.get("Items", [])
            if "LastEvaluatedKey" not in r:
                return
            kwargs["ExclusiveStartKey"] = r["LastEvaluatedKey"]
