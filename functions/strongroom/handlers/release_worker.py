"""Lambda: carry an approved (or withdrawn) release through (invoked asynchronously by the API).

Event: {"release_id": "rel-…"}. Idempotent by release id: Lambda's retries and repeated
invocations finish the job; a published or refused release is left as it is.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from strongroom.config import environment
from strongroom.flows.audit import run_poll
from strongroom.flows.release import run_release
from strongroom.handlers import compose

logger = Logger(service="strongroom-release-worker")


@logger.inject_lambda_context
def handler(event: dict, context: LambdaContext) -> dict:
    release_id = event["release_id"]
    logger.info("running release", extra={"release": release_id})
    cfg_journal = compose.S3BlobStore(compose.clients.s3(), compose.settings().ingest_bucket)
    voter = compose.voter()  # on AWS each node votes in its own region: only digests cross regions

    def poll(archive, au):
        return run_poll(archive, au, voter=voter)

    # The journal and the admins let the flow refuse a release record forged into the catalog.
    report = run_release(
        compose.archive(),
        compose.publish_target(),
        release_id,
        journal=cfg_journal,
        poll=poll,
        admins=environment().admin_arns,
    )
    r = report.release
    logger.info(
        "release ran", extra={"release": r.id, "state": r.state, "render": report.render_id, "seconds": report.seconds}
    )
    return {"release_id": r.id, "state": r.state, "render_id": report.render_id, "reason": r.reason}
