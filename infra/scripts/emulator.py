"""The local AWS emulator: moto's server on loopback, for as long as its parent lives.

Usage: python emulator.py PORT

Prints "ready http://127.0.0.1:PORT" once it answers, then serves until its standard input closes
(the parent process exited or closed the pipe) or it receives SIGTERM. Tying its life to the pipe
means a test run that crashes never leaves an emulator behind.
"""

import signal
import sys
import threading
import urllib.request

from moto.server import ThreadedMotoServer

import moto_patches
import moto_s3_patches
import moto_sqs_patches


def main() -> None:
    port = int(sys.argv[1])
    moto_patches.apply()
    moto_s3_patches.apply()
    moto_sqs_patches.apply()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    urllib.request.urlopen(f"{url}/moto-api/", timeout=10).read()
    print(f"ready {url}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def wait_for_parent() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=wait_for_parent, daemon=True).start()
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main()
