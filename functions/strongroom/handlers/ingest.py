"""Lambda: a package landed under incoming/ in the ingest bucket (S3 ObjectCreated event)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from strongroom import app
from strongroom.domain.ingest import ingest_package

logger = Logger(service="strongroom-ingest")
metrics = Metrics(namespace="strongroom", service="ingest")


@dataclass(frozen=True)
class PackageEvent:
    """The one thing ingest needs from an S3 notification record."""

    bucket: str
    key: str
    etag: str | None
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
    return [PackageEvent(r.s3.bucket.name, unquote_plus(r.s3.get_object.key), r.s3.get_object.etag,
                         r.s3.get_object.size) for r in event.records]


@metrics.log_metrics
@logger.inject_lambda_context
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> dict:
    results = []
    for package in parse(event):
        logger.info("ingesting", extra={"key": package.key, "size": package.size})
        outcome = ingest_package(app.archive(), package.key)
        metrics.add_metric(name=f"Packages_{outcome.status}", unit=MetricUnit.Count, value=1)
        logger.info("ingested", extra={"key": package.key, "status": outcome.status, "au": outcome.au,
                                       "version": outcome.version, "copies": outcome.copies})
        results.append(asdict(IngestResult(outcome.key, outcome.status, outcome.au, outcome.version,
                                           outcome.report_key, outcome.copies)))
    return {"results": results}
