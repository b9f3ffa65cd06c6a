"""Lambda: a package landed under incoming/ in the ingest bucket (S3 ObjectCreated event).

Each S3 object version is ingested at most once (powertools idempotency keyed by bucket, key,
version id and sequencer, records kept in the catalog table), and the flow opens and removes
exactly the version the event names: a package PUT again to the same key while the first is
being ingested is its own version, with its own event. A publisher pushing the same bytes again
is a new version and gets a 'duplicate' receipt from the domain instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from strongroom.adapters.dynamodb import IDEMPOTENCY_PK
from strongroom.config import settings
from strongroom.flows.ingest import ingest_package
from strongroom.handlers import compose

logger = Logger(service="strongroom-ingest")
metrics = Metrics(namespace="strongroom", service="ingest")
persistence = DynamoDBPersistenceLayer(
    table_name=settings().catalog_table, key_attr="pk", sort_key_attr="sk", static_pk_value=IDEMPOTENCY_PK
)
once = IdempotencyConfig(event_key_jmespath="[bucket, key, version_id, sequencer]", expires_after_seconds=7 * 24 * 3600)


@dataclass(frozen=True)
class PackageEvent:
    """The one thing ingest needs from an S3 notification record."""

    bucket: str
    key: str
    version_id: str | None
    sequencer: str | None
    size: int | None


@dataclass(frozen=True)
class IngestResult:
    key: str
    status: str
    au: str | None
    version: str | None
    report: str | None
    copies: int


def parse(event: S3Event) -> list[PackageEvent]:
    return [
        PackageEvent(
            r.s3.bucket.name,
            unquote_plus(r.s3.get_object.key),
            r.s3.get_object.version_id,
            r.s3.get_object.sequencer,
            r.s3.get_object.size,
        )
        for r in event.records
    ]


@idempotent_function(data_keyword_argument="package", persistence_store=persistence, config=once)
def ingest_once(package: dict) -> dict:
    outcome = ingest_package(compose.archive(), package["key"], package["version_id"])
    metrics.add_metric(name=f"Packages_{outcome.status}", unit=MetricUnit.Count, value=1)
    return asdict(
        IngestResult(outcome.key, outcome.status, outcome.au, outcome.version, outcome.report_key, outcome.copies)
    )


@metrics.log_metrics
@logger.inject_lambda_context
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> dict:
    once.register_lambda_context(context)
    results = []
    for package in parse(event):
        logger.info("ingesting", extra={"key": package.key, "size": package.size})
        result = ingest_once(package=asdict(package))
        logger.info("ingested", extra=result)
        results.append(result)
    return {"results": results}
