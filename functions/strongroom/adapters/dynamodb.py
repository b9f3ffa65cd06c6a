"""The catalog in one DynamoDB table (pk/sk), shared with powertools' idempotency records.

Layout: AU#<au> / AU          the AuRecord
        AU#<au> / EVENT#<at>#<uuid>   its PREMIS events (also for PACKAGE#<key> of rejected packages)
        LOCK#<name> / LOCK    a lease serialising ingests of one AU
        RELEASE#<id> / RELEASE  a release (strongroom.domain.release), `revision` for conditional writes
        SUMMARY#archive / SUMMARY             the archive's totals, numbers (domain.catalog.SUMMARY_FIELDS)
        SUMMARY#publisher#<p> / SUMMARY       the same totals for one publisher
        SUMMARY#publisher#<p> / TITLE#<t>     one title of it: `aus`, its AU count (so a title is
                                              counted once, when its first AU appears, and a
                                              publisher's titles are one Query)
AU, event and release items are JSON in a `doc` attribute: the record shapes live in the domain,
not here. AU items also carry `rev`, a number each put_au raises by one. Summary and title items
are plain number attributes, so that UpdateItem can ADD to them.

put_au moves the summary items by the difference between the AU record it read and the one it
writes (UpdateItem ADD), in one TransactWriteItems with the AU put, which is guarded by a
condition on what was read (the `rev`, or that no AU item existed); a writer that lost a race
reads again and retries, so no change is counted twice or missed. A catalog written before the
summaries existed needs `strongroom catalog rebuild` once for its totals to be right.

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
    SUMMARY_FIELDS,
    AuRecord,
    StaleWrite,
    poll_order_key,
    poll_shard,
    poll_time_key,
    summary_delta,
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
ARCHIVE_SUMMARY_PK = "SUMMARY#archive"
SUMMARY_SK = "SUMMARY"
# Why a transaction was cancelled when another writer got in first (read again and retry);
# any other reason (a validation error, say) is raised.
RACES = {"None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError"}
PUT_AU_ATTEMPTS = 20  # a conflict means another writer changed the AU or its title in between
TITLE_INDEX = "by-title"
POLL_INDEX = "by-poll"


def _publisher_summary_pk(publisher: str) -> str:
    return f"SUMMARY#publisher#{publisher}"


def _title_item_key(publisher: str, title: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": {"S": _publisher_summary_pk(publisher)}, "sk": {"S": f"TITLE#{title}"}}


def _object_pk(object_id: str) -> str:
    return ("PACKAGE#" if object_id.startswith("incoming/") else "AU#") + object_id


class DynamoCatalog:
    def __init__(self, client: DynamoDBClient, table: str):
        self.client = client
        self.table = table

    def put_au(self, record: AuRecord) -> None:
        delay = 0.02
        for _ in range(PUT_AU_ATTEMPTS):
            if self._try_put_au(record):
                return
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        raise StaleWrite(f"{record.au} kept changing while it was written ({PUT_AU_ATTEMPTS} tries); try again")

    def _try_put_au(self, record: AuRecord) -> bool:
        """One read-compute-write of the AU and its summaries; False if another writer got in between."""
        key = {"pk": {"S": f"AU#{record.au}"}, "sk": {"S": "AU"}}
        title_key = _title_item_key(record.publisher, record.title)
        got = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item")
        old = AuRecord.from_dict(json.loads(got["doc"]["S"])) if got else None
        new_title = False
        if old is None:
            title = self.client.get_item(TableName=self.table, Key=title_key, ConsistentRead=True).get("Item")
            new_title = title is None
        rev = int(got["rev"]["N"]) if got and "rev" in got else 0
        put: dict = {
            "TableName": self.table,
            "Item": {
                **key,
                "doc": {"S": json.dumps(record.as_dict(), sort_keys=True)},
                "rev": {"N": str(rev + 1)},
                "title_key": {"S": title_of(record.au)},
                "poll_shard": {"S": poll_shard(record.au)},
                "polled": {"S": poll_order_key(record)},
            },
        }
        if got is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        elif "rev" in got:
            put["ConditionExpression"] = "#rev = :rev"
            put["ExpressionAttributeNames"] = {"#rev": "rev"}
            put["ExpressionAttributeValues"] = {":rev": {"N": str(rev)}}
        else:  # written before items had a rev: guard on the very document read
            put["ConditionExpression"] = "attribute_not_exists(#rev) AND #doc = :doc"
            put["ExpressionAttributeNames"] = {"#rev": "rev", "#doc": "doc"}
            put["ExpressionAttributeValues"] = {":doc": got["doc"]}
        delta = summary_delta(old, record, new_title=new_title)
        writes: list = [{"Put": put}]
        if delta:
            for pk in (ARCHIVE_SUMMARY_PK, _publisher_summary_pk(record.publisher)):
                writes.append({"Update": self._add(pk, SUMMARY_SK, delta)})
        if old is None:
            count = self._add(title_key["pk"]["S"], title_key["sk"]["S"], {"aus": 1})
            if new_title:  # another writer's first AU of this title makes ours a conflict, not a second title
                count["ConditionExpression"] = "attribute_not_exists(pk)"
            writes.append({"Update": count})
        try:
            if len(writes) == 1:
                self.client.put_item(**put)
            else:
                self.client.transact_write_items(TransactItems=writes)
        except ClientError as e:
            code = e.response["Error"]["Code"]
            reasons = {r.get("Code", "None") for r in e.response.get("CancellationReasons", [])}
            if code in ("ConditionalCheckFailedException", "TransactionConflictException") or (
                code == "TransactionCanceledException" and reasons <= RACES
            ):
                return False
            raise
        return True

    def _add(self, pk: str, sk: str, delta: dict[str, int]) -> dict:
        """An UpdateItem that adds delta's numbers to one item's (creating it or them at zero)."""
        names = {f"#f{i}": name for i, name in enumerate(delta)}
        return {
            "TableName": self.table,
            "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
            "UpdateExpression": "ADD " + ", ".join(f"#f{i} :v{i}" for i in range(len(delta))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {f":v{i}": {"N": str(v)} for i, v in enumerate(delta.values())},
        }

    def summary(self, publisher: str | None = None) -> dict[str, int]:
        pk = ARCHIVE_SUMMARY_PK if publisher is None else _publisher_summary_pk(publisher)
        item = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": SUMMARY_SK}}, ConsistentRead=True
        ).get("Item", {})
        return {name: int(item[name]["N"]) if name in item else 0 for name in SUMMARY_FIELDS}

    def title_aus(self, title: str) -> int:
        publisher, _, name = title.strip("/").partition("/")
        item = self.client.get_item(
            TableName=self.table, Key=_title_item_key(publisher, name), ConsistentRead=True
        ).get("Item")
        return int(item["aus"]["N"]) if item else 0

    def aus_of_publisher(self, publisher: str, limit: int) -> list[AuRecord]:
        out: list[AuRecord] = []
        titles = self._query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :t)",
            ExpressionAttributeValues={":pk": {"S": _publisher_summary_pk(publisher)}, ":t": {"S": "TITLE#"}},
            ConsistentRead=True,
        )
        for item in titles:
            if len(out) >= limit:
                break
            out += self.aus_of_title(f"{publisher}/{item['sk']['S'].removeprefix('TITLE#')}", limit - len(out))
        return out

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

    def aus_of_title(self, title: str, limit: int | None = None) -> list[AuRecord]:
        query: dict = {
            "IndexName": TITLE_INDEX,
            "KeyConditionExpression": "title_key = :t",
            "ExpressionAttributeValues": {":t": {"S": title.strip("/")}},
        }
        if limit is not None:
            query["Limit"] = limit  # the index is in pk order, so these are the first `limit` AUs
        out: list[AuRecord] = []
        for item in self._query(**query):  # index order is pk order: AU order
            out.append(AuRecord.from_dict(json.loads(item["doc"]["S"])))
            if limit is not None and len(out) >= limit:
                break
        return out

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
