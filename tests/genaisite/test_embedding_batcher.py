"""The embedding service's batcher with a stand-in encoder: batching, order of service, failures."""

import threading
import time

import numpy as np

from genaisite.embedded.embedding_server import Batcher


class RecordingEncoder:
    """Encodes a text as [its length]; holds the first call until released, to let a queue build up."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.release = threading.Event()

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if len(self.calls) == 1:
            self.release.wait(10)
        if any(text == "boom" for text in texts):
            raise RuntimeError("model failure")
        return np.array([[float(len(text))] for text in texts], dtype=np.float32)


def start(encoder: RecordingEncoder) -> Batcher:
    batcher = Batcher(encoder)
    threading.Thread(target=batcher.run, daemon=True).start()
    return batcher


def ask(batcher: Batcher, texts: list[str], results: dict, key: str) -> threading.Thread:
    def run() -> None:
        try:
            results[key] = batcher.embed(texts)
        except Exception as exc:  # the caller sees the model's failure
            results[key] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_requests_waiting_together_share_a_batch_and_each_gets_its_own_rows():
    encoder, results = RecordingEncoder(), {}
    batcher = start(encoder)
    threads = [ask(batcher, ["first"], results, "blocker")]
    time.sleep(0.1)
    threads += [ask(batcher, ["a" * n], results, f"q{n}") for n in range(1, 6)]
    time.sleep(0.1)
    encoder.release.set()
    for thread in threads:
        thread.join(5)
    assert len(encoder.calls) == 2, "the five queued questions should go through the model together"
    assert sorted(encoder.calls[1]) == sorted("a" * n for n in range(1, 6))
    for n in range(1, 6):
        assert results[f"q{n}"].tolist() == [[float(n)]]


def test_a_question_goes_before_a_queued_document_batch():
    encoder, results = RecordingEncoder(), {}
    batcher = start(encoder)
    threads = [ask(batcher, ["first"], results, "blocker")]
    time.sleep(0.1)
    threads.append(ask(batcher, [f"chunk {i}" for i in range(256)], results, "document"))
    time.sleep(0.05)
    threads.append(ask(batcher, ["a question"], results, "question"))
    time.sleep(0.1)
    encoder.release.set()
    for thread in threads:
        thread.join(5)
    assert encoder.calls[1] == ["a question"], "a search must not wait behind an ingestion batch"
    assert len(encoder.calls[2]) == 256
    assert results["document"].shape == (256, 1)


def test_a_failing_batch_fails_its_requests_and_the_batcher_keeps_serving():
    encoder, results = RecordingEncoder(), {}
    encoder.release.set()
    batcher = start(encoder)
    ask(batcher, ["boom"], results, "bad").join(5)
    ask(batcher, ["fine"], results, "good").join(5)
    assert isinstance(results["bad"], RuntimeError)
    assert results["good"].tolist() == [[4.0]]
