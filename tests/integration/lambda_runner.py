"""One Lambda execution environment for tests/integration/test_artifacts.py (standard library only).

Run as ``python -I lambda_runner.py ARTIFACT_DIR HANDLER`` by an interpreter with nothing
installed: the artifact directory is the only place code can come from, as /var/task is on
Lambda. The handler module is imported once (the cold start), then every line on stdin is
one invocation, {"event": path, "deadline": epoch seconds, "request_id": ...}; its answer,
one JSON line, goes to the original stdout. The handler's own output (logs, prints) goes to
stderr, as a function's goes to CloudWatch.
"""

import importlib
import json
import os
import sys
import sysconfig
import time
import traceback

artifact, handler_path = sys.argv[1], sys.argv[2]
sys.path.insert(0, artifact)
os.chdir(artifact)  # Lambda runs a function in /var/task
answers = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)

STDLIB = tuple(os.path.realpath(p) for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
ARTIFACT = os.path.realpath(artifact)


def error(e: BaseException) -> dict:
    return {"errorType": type(e).__name__, "errorMessage": str(e), "stackTrace": traceback.format_exc()}


def from_elsewhere() -> list[str]:
    """Modules loaded from neither the artifact nor the standard library (must be none)."""
    out = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path == __file__:  # this runner (as __main__, and as __mp_main__ in multiprocessing)
            continue
        if path and not os.path.realpath(path).startswith((ARTIFACT + os.sep, *(p + os.sep for p in STDLIB))):
            out.append(f"{name} ({path})")
    return sorted(out)


class Context:
    """The parts of Lambda's context object handlers and powertools use."""

    def __init__(self, request: dict):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        region, account = os.environ["AWS_REGION"], request["account"]
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{self.function_name}"
        self.aws_request_id = request["request_id"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = "test"
        self._deadline = request["deadline"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


try:
    module_name, function_name = handler_path.rsplit(".", 1)
    handler, init_error = getattr(importlib.import_module(module_name), function_name), None
except Exception as e:  # an import that fails is Runtime.ImportModuleError on Lambda
    handler, init_error = None, error(e)

for line in sys.stdin:
    request = json.loads(line)
    if init_error:
        answer = {"ok": False, "error": init_error}
    else:
        try:
            with open(request["event"], encoding="utf-8") as fh:
                result = handler(json.load(fh), Context(request))
            answer = {"ok": True, "result": json.loads(json.dumps(result))}  # Lambda sends JSON or fails
        except Exception as e:
            answer = {"ok": False, "error": error(e)}
    answer["from_elsewhere"] = from_elsewhere()
    answers.write(json.dumps(answer) + "\n")
