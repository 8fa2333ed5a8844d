"""`serve` under failure, against a real server on 127.0.0.1 with a stand-in model (no TensorFlow):
a broken request costs only itself, a full queue answers 503 at once, and the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web


class StandInModel:
    """Two classes; "poison" makes the model return nothing (an error outside the model call,
    where its rows are split among the requests); "slow" holds the model for a while."""

    class_names = ["neg", "pos"]
    takes_pairs = False
    threshold = None
    multi_label = False

    def __init__(self):
        self.calls = 0

    def probabilities(self, texts, pairs=None, batch_size=64, progress=None):
        self.calls += 1
        if "slow" in texts:
            time.sleep(1.5)
        if "poison" in texts:
            return None
        return np.array([[0.25, 0.75] if "good" in text else [0.8, 0.2] for text in texts])


@pytest.fixture()
def server(tmp_path):
    """The app on a free port of 127.0.0.1, in a thread of its own; yields (url, model)."""
    from bertclf.serving.server import ServeOptions, build_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = StandInModel()
    (tmp_path / "config.yaml").write_text("experiment: {name: standin}\n")
    app = build_app(model, Path(tmp_path), ServeOptions(port=port, batch_wait_ms=1, max_batch=64,
                                                        max_queued_texts=8, max_body_bytes=64 * 1024))
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    started = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    yield f"http://127.0.0.1:{port}/v1/models/standin:predict", model
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


async def _post(session, url, body, raw: bool = False):
    async with session.post(url, data=body if raw else json.dumps(body)) as response:
        return response.status, dict(response.headers), await response.json()


def _run(coroutine):
    return asyncio.run(coroutine)


def test_an_error_around_the_model_call_fails_that_request_only_and_serving_goes_on(server):
    import aiohttp

    url, model = server

    async def scenario():
        async with aiohttp.ClientSession() as session:
            broken = await _post(session, url, {"instances": ["poison"]})
            after = await _post(session, url, {"instances": ["a good film", "a bad film"]})
            return broken, after

    (status, _, body), (after_status, _, after) = _run(scenario())
    assert status == 500 and body["error"].startswith("the model failed on this request (TypeError")
    assert after_status == 200 and [row["label"] for row in after["predictions"]] == ["pos", "neg"]


def test_a_full_queue_answers_503_with_retry_after_at_once_and_serving_goes_on(server):
    import aiohttp

    url, model = server

    async def scenario():
        async with aiohttp.ClientSession() as session:
            # The model is busy with "slow" for 1.5 s; 8 texts may wait; 20 requests of 1 text arrive.
            slow = asyncio.create_task(_post(session, url, {"instances": ["slow"]}))
            await asyncio.sleep(0.3)
            answers = await asyncio.gather(*(_post(session, url, {"instances": [f"good {i}"]}) for i in range(20)))
            return await slow, answers

    slow, answers = _run(scenario())
    statuses = [status for status, _, _ in answers]
    assert slow[0] == 200
    assert statuses.count(200) == 7 and statuses.count(503) == 13, statuses  # "slow" + 7 fill the 8
    refused = [(headers, body) for status, headers, body in answers if status == 503]
    assert all(headers["Retry-After"] == "1" and "texts are waiting for the model (--max-queue 8)" in body["error"]
               for headers, body in refused)


def test_deeply_nested_json_is_400_and_an_oversized_body_413(server):
    import aiohttp

    url, _ = server

    async def scenario():
        async with aiohttp.ClientSession() as session:
            nested = await _post(session, url, b"[" * 30_000 + b"]" * 30_000, raw=True)
            oversized = await _post(session, url, {"instances": ["x" * (70 * 1024)]})
            fine = await _post(session, url, {"instances": ["a good film"]})
            return nested, oversized, fine

    nested, oversized, fine = _run(scenario())
    assert nested[0] == 400 and nested[2]["error"] == "malformed JSON request body: nested too deeply"
    assert oversized[0] == 413 and oversized[2]["error"].startswith("request body over 65536 bytes")
    assert fine[0] == 200
