"""The replay child process's entry point: `python -m strongroom.local.replay_process --bucket B --port P --work-dir D`.

gevent must patch the interpreter before anything imports ssl, sockets or boto3 (pywb runs on
gevent, and a late patch leaves botocore recursing). So this module patches first and only then
imports the rest; the runtime's own process never imports it.
"""

from gevent import monkey

monkey.patch_all()

import sys  # noqa: E402

from strongroom.local.serve import replay_main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(replay_main(sys.argv[1:]))
