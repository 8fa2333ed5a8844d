"""`bertclf serve`: a run's exported model over HTTP, answering TensorFlow Serving's REST API.

The SavedModel is loaded once. Concurrent predict requests are gathered for a few
milliseconds into one model call (`MicroBatcher`), which runs on a worker thread so
the event loop keeps accepting requests; the texts of a gathered batch are grouped
by length as `bertclf predict` groups them. aiohttp does the HTTP; SIGTERM and
Ctrl-C stop accepting connections and let requests in flight finish.

Routes (`<name>` is the experiment name unless `--name` says otherwise):

* `POST /v1/models/<name>:predict` (also `/versions/1:predict`): see `serving.rest`.
* `GET /v1/models/<name>` and `/v1/models/<name>/metadata`: status and signature.
* `GET /v1/models/<name>/bertclf`: class names, run folder, training metrics, counters.
* `GET /healthz`; `GET /`: a page to try the model in a browser.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Optional

import numpy as np
from aiohttp import web

from bertclf import artifacts
from bertclf.errors import ConfigError
from bertclf.serving import rest


@dataclasses.dataclass
class ServeOptions:
    """How `bertclf serve` listens and batches."""

    host: str = "127.0.0.1"
    port: int = 8501
    name: Optional[str] = None            # the model name in URLs; default: the experiment name
    batch_wait_ms: float = 5.0            # how long a request waits for others to share its model call
    max_batch: int = 64                   # texts per model call
    max_instances: int = 1024             # texts per request
    max_body_bytes: int = 4 * 1024 * 1024
    # Texts waiting for the model, over all requests: beyond it a request is answered 503 with
    # Retry-After at once, instead of queueing without bound (memory, and answers too late to use).
    max_queued_texts: int = 4096
    json_start: bool = False              # the start line as JSON (`serve --json`), for scripts


# Seconds a client told 503 is asked to wait: about the time a full queue takes to drain is
# unknown here, so a short, fixed pause that spreads retries.
_RETRY_AFTER_SECONDS = 1


class Overloaded(Exception):
    """The queue of texts waiting for the model is full: the server answers 503."""


@dataclasses.dataclass
class _Counters:
    requests: int = 0
    texts: int = 0
    model_calls: int = 0
    failures: int = 0  # requests answered 500


class MicroBatcher:
    """Gathers the texts of concurrent requests into shared model calls.

    The first request of a batch waits at most `wait_seconds` for others; a batch
    closes early once it holds `max_batch` texts. One model call runs at a time,
    off the event loop; requests arriving meanwhile form the next batch.
    """

    def __init__(self, predictor, max_batch: int, wait_seconds: float, counters: _Counters,
                 max_queued_texts: int = 4096):
        self.predictor = predictor
        self.max_batch = max_batch
        self.wait_seconds = wait_seconds
        self.counters = counters
        self.max_queued_texts = max_queued_texts
        self.queued_texts = 0  # texts put and not yet answered (queued or in the model call)
        self._queue: asyncio.Queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bertclf-model")
        self._task: Optional[asyncio.Task] = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=True)

    async def probabilities(self, texts: list[str], pairs: Optional[list[str]]) -> np.ndarray:
        """The model's probabilities for one request's texts, computed with whatever else is waiting.

        Raises:
            Overloaded: The queue already holds `max_queued_texts` texts (a request of more
                texts than that is taken when the queue is empty).
        """
        if self.queued_texts and self.queued_texts + len(texts) > self.max_queued_texts:
            raise Overloaded(f"{self.queued_texts} texts are waiting for the model (--max-queue "
                             f"{self.max_queued_texts}); retry in {_RETRY_AFTER_SECONDS} s")
        future = asyncio.get_running_loop().create_future()
        self.queued_texts += len(texts)
        try:
            self._queue.put_nowait((texts, pairs, future))
            return await future
        finally:
            self.queued_texts -= len(texts)

    async def _run(self) -> None:
        """Serves batches until stopped. Whatever goes wrong with one batch, in the model call or
        around it, fails that batch's requests (500) and the loop goes on with the next."""
        while True:
            batch = [await self._queue.get()]
            try:
                await self._serve(batch)
            except Exception as error:  # a bug around the model call: this batch only
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(error)

    async def _serve(self, batch: list) -> None:
        """Adds waiting requests to `batch` (in place: the caller fails them all if this raises),
        runs one model call and answers each request with its rows."""
        loop = asyncio.get_running_loop()
        size = len(batch[0][0])
        deadline = loop.time() + self.wait_seconds
        while size < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
            size += len(batch[-1][0])
        texts = [text for item in batch for text in item[0]]
        pairs = [pair for item in batch for pair in item[1]] if batch[0][1] is not None else None
        result = await loop.run_in_executor(self._executor, self._call, texts, pairs)
        start = 0
        for item_texts, _, future in batch:
            if not future.done():  # its client may have gone
                future.set_result(result[start:start + len(item_texts)])
            start += len(item_texts)

    def _call(self, texts: list[str], pairs: Optional[list[str]]) -> np.ndarray:
        self.counters.model_calls += 1
        # Requests are logged, not drawn as progress.
        return self.predictor.probabilities(texts, pairs, batch_size=self.max_batch, progress=None)


def build_app(predictor, run_dir: Path, options: ServeOptions) -> web.Application:
    """The aiohttp application serving `predictor` (a loaded `serving.predict.Predictor`)."""
    name = options.name or _experiment_name(run_dir)
    counters = _Counters()
    batcher = MicroBatcher(predictor, options.max_batch, options.batch_wait_ms / 1000, counters,
                           options.max_queued_texts)
    class_names = predictor.class_names
    page_html = resources.files("bertclf.serving").joinpath("page.html").read_text(encoding="utf-8").replace(
        "{{MODEL_NAME}}", json.dumps(name))
    model_info = {"name": name, "run_dir": str(run_dir), "labels": class_names,
                  "takes_pairs": predictor.takes_pairs, "multi_label": predictor.multi_label,
                  "threshold": predictor.threshold, "metrics": _training_metrics(run_dir)}

    def error(status: int, message: str) -> web.Response:
        return web.json_response({"error": message}, status=status)

    async def predict(request: web.Request) -> web.Response:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return error(413, f"request body over {options.max_body_bytes} bytes; send fewer texts per request")
        try:
            parsed = rest.parse_predict(body, predictor.takes_pairs, options.max_instances)
        except rest.BadRequest as bad:
            return error(400, str(bad))
        counters.requests += 1
        counters.texts += len(parsed.texts)
        try:
            probabilities = await batcher.probabilities(parsed.texts, parsed.pairs)
        except Overloaded as busy:
            response = error(503, str(busy))
            response.headers["Retry-After"] = str(_RETRY_AFTER_SECONDS)
            return response
        except Exception as failure:  # the model, or the batcher around it: this request only
            counters.failures += 1
            detail = (str(failure).strip().splitlines() or [""])[0][:300]
            return error(500, f"the model failed on this request ({type(failure).__name__}: {detail})")
        return web.json_response(rest.predict_response(parsed, probabilities, class_names, predictor.threshold,
                                                       predictor.multi_label))

    async def status(request: web.Request) -> web.Response:
        return web.json_response(rest.status_response())

    async def metadata(request: web.Request) -> web.Response:
        return web.json_response(rest.metadata_response(name, predictor.takes_pairs, len(class_names),
                                                        predictor.multi_label))

    async def info(request: web.Request) -> web.Response:
        return web.json_response({**model_info, "serving": dataclasses.asdict(counters)})

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=page_html, content_type="text/html")

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    @web.middleware
    async def json_errors(request: web.Request, handler):
        # Unknown paths and methods answer in TF Serving's error shape too, not aiohttp's text.
        try:
            return await handler(request)
        except web.HTTPException as http_error:
            if http_error.status < 400:
                raise
            if http_error.status == 404 and request.path.startswith("/v1/models/"):
                asked = request.path[len("/v1/models/"):].split("/")[0].split(":")[0]
                return error(404, f"Servable not found for request: Latest({asked}); this server has {name!r}")
            return error(http_error.status, f"{http_error.reason}: {request.method} {request.path}")

    app = web.Application(client_max_size=options.max_body_bytes, middlewares=[json_errors])
    model = f"/v1/models/{{model:{_escaped(name)}}}"
    app.add_routes([
        web.post(model + ":predict", predict),
        web.post(model + f"/versions/{rest.VERSION}:predict", predict),
        web.get(model, status),
        web.get(model + f"/versions/{rest.VERSION}", status),
        web.get(model + "/metadata", metadata),
        web.get(model + "/bertclf", info),
        web.get("/healthz", health),
        web.get("/", page),
    ])

    async def start_batcher(app: web.Application) -> None:
        batcher.start()

    async def stop_batcher(app: web.Application) -> None:
        await batcher.stop()

    app.on_startup.append(start_batcher)
    app.on_cleanup.append(stop_batcher)
    return app


def serve(run_dir: Path, options: ServeOptions, runtime: str = "auto") -> None:
    """Loads the run's model and serves it until SIGTERM or Ctrl-C.

    Args:
        run_dir: A finished run folder (`artifacts.resolve_run`'s answer).
        options: Where to listen, and how to batch.
        runtime: `serving.predictions.open_predictor`'s choice (auto: ONNX when exported).

    Raises:
        RunError: The exported model cannot be loaded.
    """
    from bertclf.serving.predictions import open_predictor

    _require_free_address(options.host, options.port)  # before the model load, not after it
    predictor = open_predictor(run_dir, runtime)
    # The first call traces the tokenizer and kernels: done before the first client waits on it.
    predictor.probabilities(["warm up"], ["warm up"] if predictor.takes_pairs else None)
    app = build_app(predictor, run_dir, options)
    name = options.name or _experiment_name(run_dir)
    url = f"http://{options.host}:{options.port}"

    def ready(*_: object) -> None:
        if options.json_start:
            print(json.dumps({"url": url, "model": name, "run": str(run_dir), "runtime": predictor.runtime,
                              "predict": f"{url}/v1/models/{name}:predict"}), flush=True)
            return
        print(f"Serving {run_dir} ({predictor.runtime}) as {name!r} on {url} (POST "
              f"{url}/v1/models/{name}:predict; Ctrl-C stops)", flush=True)

    web.run_app(app, host=options.host, port=options.port, print=ready, access_log=None,
                shutdown_timeout=30)


def _require_free_address(host: str, port: int) -> None:
    """Raises ConfigError when `host:port` cannot be listened on (in use, or not this machine's)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ConfigError(f"serve --host {host}: not an address of this machine ({error.strerror})") from None
    family, kind, protocol, _, address = infos[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
        try:
            probe.bind(address)
        except OSError as error:
            hint = "pick another with --port" if error.errno == errno.EADDRINUSE else "check --host"
            raise ConfigError(f"serve: cannot listen on {host}:{port} ({error.strerror}); {hint}") from None


def _experiment_name(run_dir: Path) -> str:
    import yaml

    try:
        config = yaml.safe_load((run_dir / artifacts.CONFIG_FILE).read_text(encoding="utf-8"))
        return str(config["experiment"]["name"])
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return run_dir.name


def _training_metrics(run_dir: Path) -> dict:
    try:
        metrics = json.loads((run_dir / artifacts.METRICS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    keep = ("encoder", "epochs", "best_epoch", "train_examples", "validation", "test", "runtime")
    return {key: metrics[key] for key in keep if key in metrics}


def _escaped(name: str) -> str:
    import re

    return re.escape(name).replace("{", r"\{").replace("}", r"\}")
