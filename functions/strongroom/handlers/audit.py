"""Lambda: the audit. template.yaml's schedule runs the planner; an explicit list polls on demand.

Event shapes (both JSON objects):
    {}  or  {"plan": true}          the AUs due now (strongroom.toml [audit]), one poll after another
                                    while the invocation has time left; the rest stay due
    {"aus": ["pub/title/au", ...]}  exactly these AUs, now

After each poll the AU's public attestation is rewritten; the attestation index at the end.
Votes are taken by each node's own auditor on AWS (compose.voter()), in this process locally.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from strongroom.config import settings
from strongroom.domain.au import AuId
from strongroom.domain.errors import StrongroomError
from strongroom.flows.audit import PollReport, due_aus, poll_each
from strongroom.handlers import compose
from strongroom.render import attestation

logger = Logger(service="strongroom-audit")
metrics = Metrics(namespace="strongroom", service="audit")
tracer = Tracer(service="strongroom-audit")

# Stop starting polls when less than this is left of the invocation: a poll of a large AU takes minutes.
MARGIN_MS = 5 * 60 * 1000


class BadRequest(StrongroomError, ValueError):
    """The event is not one of the shapes in the module doc."""


@dataclass(frozen=True)
class AuditRequest:
    aus: tuple[str, ...] = ()  # empty: the planner chooses

    @classmethod
    def parse(cls, event) -> AuditRequest:
        if event is None:
            return cls()
        if not isinstance(event, dict):
            raise BadRequest(f'expected a JSON object such as {{}} or {{"aus": ["pub/title/au"]}}, got {event!r}')
        aus = event.get("aus") or ()
        if isinstance(aus, str) or not all(isinstance(a, str) for a in aus):
            raise BadRequest(f"aus must be a list of AU ids (publisher/title/au), got {aus!r}")
        for au in aus:
            AuId.parse(au)  # raises ValueError with the rule
        return cls(tuple(aus))


@dataclass
class PollSummary:
    au: str
    status: str
    agreement: int
    nodes: dict[str, str]
    repaired: int
    unrepairable: list[str]
    message: str


@dataclass
class AuditResult:
    planned: bool
    polls: list[PollSummary] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # due but not reached (time) or busy: next run
    attestation: list[str] = field(default_factory=list)  # public keys written


def summary(report: PollReport) -> PollSummary:
    return PollSummary(
        report.au,
        report.status,
        report.agreement,
        dict(report.nodes),
        int(report.repair.get("repaired", 0)),
        list(report.unrepairable),
        report.message,
    )


def add_metrics(m: Metrics, report: PollReport) -> None:
    """EMF metrics of one poll; Unrepairable > 0 raises template.yaml's AuditUnrepairableAlarm."""
    nodes = (report.tally or {}).get("nodes", {})
    m.add_metric(
        name="BytesHashed", unit=MetricUnit.Bytes, value=sum(c.get("bytes_read", 0) for c in report.cost.values())
    )
    for name, key in (
        ("FilesOk", "ok"),
        ("FilesDamaged", "damaged"),
        ("FilesMissing", "missing"),
        ("FilesExtra", "extra"),
    ):
        m.add_metric(name=name, unit=MetricUnit.Count, value=sum(n.get(key, 0) for n in nodes.values()))
    m.add_metric(
        name="NodesUnavailable",
        unit=MetricUnit.Count,
        value=sum(1 for s in report.nodes.values() if s == "unavailable"),
    )
    m.add_metric(name="Repairs", unit=MetricUnit.Count, value=int(report.repair.get("repaired", 0)))
    m.add_metric(name="Unrepairable", unit=MetricUnit.Count, value=len(report.unrepairable))
    m.add_metric(name="PollsInconclusive", unit=MetricUnit.Count, value=int(report.status == "inconclusive"))


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event, context: LambdaContext) -> dict:
    request = AuditRequest.parse(event)
    archive, public = compose.archive(), compose.public_store()
    regions = [n.region for n in settings().nodes]
    aus = list(request.aus) or due_aus(archive, archive.clock())
    result = AuditResult(planned=not request.aus)
    logger.info("polling", extra={"aus": aus, "planned": result.planned})

    def after_each(report: PollReport) -> None:
        add_metrics(metrics, report)
        metrics.flush_metrics()  # one EMF record per poll (each carries its own counts)
        log = logger.error if report.alarm else logger.info
        log(
            "polled",
            extra={
                "au": report.au,
                "status": report.status,
                "agreement": report.agreement,
                "nodes": report.nodes,
                "unrepairable": report.unrepairable,
                "detail": report.message,
            },
        )
        result.polls.append(summary(report))
        if report.status != "inconclusive":
            att = attestation.publish_au(archive, public, report.au, regions)
            result.attestation += [att.json_key, att.html_key]

    _, result.left = poll_each(
        archive,
        aus,
        voter=compose.voter(),
        after_each=after_each,
        keep_going=lambda: context.get_remaining_time_in_millis() > MARGIN_MS,
    )
    if result.polls:
        result.attestation += attestation.publish_index(archive, public, regions)
    return asdict(result)
