"""llama.cpp's server for a GGUF file in a process of its own, so a test can kill it.

python tests/llama_server.py MODEL.gguf PORT CONTEXT
"""

from __future__ import annotations

import sys
import time

import xllamacpp

if __name__ == "__main__":
    gguf, port, context = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    params = xllamacpp.CommonParams()
    params.model.path = gguf
    params.n_ctx = context
    params.port = port
    params.hostnames = ["127.0.0.1"]
    params.cpuparams.n_threads = params.cpuparams_batch.n_threads = 2
    params.verbosity = 0
    server = xllamacpp.Server(params)
    print(server.listening_address, flush=True)
    while True:
        time.sleep(60)
