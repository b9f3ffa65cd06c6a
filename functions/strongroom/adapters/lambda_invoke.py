"""Start a Lambda function asynchronously (InvocationType=Event): how the release API hands an
approved release to the release worker without waiting for it.

Locally AWS_ENDPOINT_URL_LAMBDA points at the local API server, which implements this one
call of the Lambda API by asking the router to run the template's function.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # development-only stubs
    from types_boto3_lambda.client import LambdaClient


class AsyncInvoker:
    def __init__(self, client: LambdaClient, function_name: str):
        self.client = client
        self.function_name = function_name

    def __call__(self, payload: dict) -> None:
        r = self.client.invoke(
            FunctionName=self.function_name, InvocationType="Event", Payload=json.dumps(payload).encode()
        )
        if r.get("StatusCode") != 202:
            raise RuntimeError(f"Lambda did not accept the invocation of {self.function_name}: {r.get('StatusCode')}")
