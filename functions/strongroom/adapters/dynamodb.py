"""The catalog in one DynamoDB table (pk/sk), shared with powertools' idempotency records.

Layout: AU#<au> / AU          the AuRecord
        AU#<au> / EVENT#<at>#<uuid>   its PREMIS events (also for PACKAGE#<key> of rejected packages)
        LOCK#<name> / LOCK    a lease serialising ingests of one AU
        RELEASE#<id> / RELEASE  a release (strongroom.domain.release), `revision` for conditional writes
Items are JSON in a `doc` attribute: the record shapes live in the domain, not here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from strongroom.domain.catalog import AuRecord, StaleWrite
from strongroom.domain.premis import PremisEvent

if TYPE_CHECKING:  # development-only stubs
    from types_boto3_dynamodb.client import DynamoDBClient
    from types_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        ConditionTypeDef,
        PutItemInputTypeDef,
        QueryInputTypeDef,
        ScanInputTypeDef,
    )

IDEMPOTENCY_PK = "IDEMPOTENCY"


def _object_pk(object_id: str) -> str:
    return ("PACKAGE#" if object_id.startswith("incoming/") else "AU#") + object_id


class DynamoCatalog:
    def __init__(self, client: DynamoDBClient, table: str):
        self.client = client
        self.table = table

    def put_au(self, record: AuRecord) -> None:
        self.client.put_item(TableName=self.table, Item={
            "pk": {"S": f"AU#{record.au}"}, "sk": {"S": "AU"},
            "doc": {"S": json.dumps(record.as_dict(), sort_keys=True)},
        })

    def get_au(self, au: str) -> AuRecord | None:
        r = self.client.get_item(TableName=self.table, Key={"pk": {"S": f"AU#{au}"}, "sk": {"S": "AU"}},
                                 ConsistentRead=True)
        item = r.get("Item")
        return AuRecord.from_dict(json.loads(item["doc"]["S"])) if item else None

    def list_aus(self) -> list[AuRecord]:
        records = [AuRecord.from_dict(json.loads(item["doc"]["S"]))
                   for item in self._scan({"sk": {"AttributeValueList": [{"S": "AU"}], "ComparisonOperator": "EQ"}})]
        return sorted(records, key=lambda r: r.au)

    def add_events(self, events: list[PremisEvent]) -> None:
        for e in events:
            self.client.put_item(TableName=self.table, Item={
                "pk": {"S": _object_pk(e.object)}, "sk": {"S": f"EVENT#{e.at}#{e.identifier}"},
                "doc": {"S": json.dumps(e.as_dict(), sort_keys=True)},
            })

    def events(self, object_id: str) -> list[PremisEvent]:
        out: list[PremisEvent] = []
        kwargs: QueryInputTypeDef = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :ev)",
            "ExpressionAttributeValues": {":pk": {"S": _object_pk(object_id)}, ":ev": {"S": "EVENT#"}},
            "ConsistentRead": True,
        }
        while True:
            r = self.client.query(**kwargs)
            out += [PremisEvent.from_dict(json.loads(i["doc"]["S"])) for i in r.get("Items", [])]
            if "LastEvaluatedKey" not in r:
                return out
            kwargs["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    def try_lock(self, name: str, owner: str, now: float, seconds: float) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"pk": {"S": f"LOCK#{name}"}, "sk": {"S": "LOCK"}, "owner": {"S": owner},
                      "until": {"N": str(now + seconds)}},
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
                TableName=self.table, Key={"pk": {"S": f"LOCK#{name}"}, "sk": {"S": "LOCK"}},
                ConditionExpression="#o = :me", ExpressionAttributeNames={"#o": "owner"},
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
        r = self.client.get_item(TableName=self.table, ConsistentRead=True,
                                 Key={"pk": {"S": f"RELEASE#{release_id}"}, "sk": {"S": "RELEASE"}})
        item = r.get("Item")
        return json.loads(item["doc"]["S"]) if item else None

    def list_releases(self) -> list[dict]:
        docs = [json.loads(item["doc"]["S"]) for item in
                self._scan({"sk": {"AttributeValueList": [{"S": "RELEASE"}], "ComparisonOperator": "EQ"}})]
        return sorted(docs, key=lambda d: (d.get("proposed_at", ""), d["id"]))

    def put_release(self, doc: dict, expected_revision: int) -> None:
        put: PutItemInputTypeDef = {
            "TableName": self.table,
            "Item": {"pk": {"S": f"RELEASE#{doc['id']}"}, "sk": {"S": "RELEASE"},
                     "revision": {"N": str(doc["revision"])}, "doc": {"S": json.dumps(doc, sort_keys=True)}},
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
