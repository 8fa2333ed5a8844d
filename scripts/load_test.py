#!/usr/bin/env python3
"""Load test for `bertclf serve`: requests/s and latency percentiles at several concurrencies,
micro-batching on and off, beside `bertclf predict --file` on the same texts.

    scripts/load_test.py RUN --texts reviews.txt [--requests 400] [--clients 1,8,32]

Each request carries one text. The server runs in a subprocess on a free port, started
once per batching setting (`--batch-wait-ms 5` and `0`, which sends every request to
the model alone). Prints a Markdown table; `--output F` also saves the JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BERTCLF = Path(sys.executable).parent / "bertclf"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(run: str, wait_ms: float, runtime: str = "auto") -> tuple[subprocess.Popen, int, str]:
    port = _free_port()
    process = subprocess.Popen([str(BERTCLF), "serve", run, "--port", str(port), "--batch-wait-ms", str(wait_ms),
                                "--runtime", runtime],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        if line.startswith("Serving "):
            name = line.split(" as ", 1)[1].split("'")[1]
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return process, port, name
    raise SystemExit(f"the server did not start (exit {process.wait()})")


def _level(port: int, name: str, texts: list[str], clients: int, requests: int) -> dict:
    local = threading.local()
    path = f"/v1/models/{name}:predict"

    def one(index: int) -> float:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        body = json.dumps({"instances": [texts[index % len(texts)]]})
        started = time.perf_counter()
        local.connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = local.connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        return time.perf_counter() - started

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(clients)))  # one warm request per client connection
        started = time.perf_counter()
        latencies = sorted(pool.map(one, range(requests)))
        seconds = time.perf_counter() - started
    quantile = statistics.quantiles(latencies, n=100)
    return {"clients": clients, "requests": requests, "requests_per_second": requests / seconds,
            "p50_ms": 1000 * quantile[49], "p95_ms": 1000 * quantile[94], "p99_ms": 1000 * quantile[98]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--texts", required=True, help="one text per line")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--output")
    parser.add_argument("--runtime", default="auto", help="serve's --runtime: auto, onnx, int8, tensorflow")
    parser.add_argument("--batch-wait-ms", default="5,0", help="micro-batching windows to measure, in ms")
    args = parser.parse_args()
    texts = [line.rstrip("\n") for line in Path(args.texts).read_text(encoding="utf-8").splitlines() if line.strip()]
    levels = [int(c) for c in args.clients.split(",")]

    # What `bertclf predict --file` does once its model is loaded: batches of 64, grouped by length.
    # Measured in a child process, so this one never holds TensorFlow beside the server.
    code = ("import sys, time; from pathlib import Path; from bertclf.serving.predictions import open_predictor; "
            "texts = Path(sys.argv[2]).read_text(encoding='utf-8').splitlines(); "
            "texts = [t for t in texts if t.strip()]; p = open_predictor(Path(sys.argv[1]), sys.argv[3]); "
            "p.probabilities(texts[:8]); "
            "s = time.perf_counter(); p.probabilities(texts); print(time.perf_counter() - s)")
    done = subprocess.run([sys.executable, "-c", code, args.run, args.texts, args.runtime], capture_output=True,
                          text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-2000:])
    predict_seconds = float(done.stdout.strip().splitlines()[-1])

    results = {"texts": len(texts), "runtime": args.runtime, "predict_file_seconds": predict_seconds, "runs": []}
    for wait_ms in [float(value) for value in args.batch_wait_ms.split(",")]:
        process, port, name = _start(args.run, wait_ms, args.runtime)
        try:
            for clients in levels:
                row = _level(port, name, texts, clients, args.requests)
                row["batch_wait_ms"] = wait_ms
                results["runs"].append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
        finally:
            process.terminate()
            process.wait(timeout=60)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"`bertclf predict --file`'s batch inference on the same {len(texts)} texts (model loaded): "
          f"{predict_seconds:.1f} s, {len(texts) / predict_seconds:.1f} texts/s\n")
    print("| micro-batching | clients | requests/s | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    for row in results["runs"]:
        mode = f"on ({row['batch_wait_ms']:g} ms)" if row["batch_wait_ms"] else "off"
        print(f"| {mode} | {row['clients']} | {row['requests_per_second']:.1f} | {row['p50_ms']:.0f} | "
              f"{row['p95_ms']:.0f} | {row['p99_ms']:.0f} |")


if __name__ == "__main__":
    main()
