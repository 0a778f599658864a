"""A page's independent reads at once: results in order, the caller's context kept, errors raised."""

import threading

import pytest
from flask import Flask, current_app

from ioc.read import parallel


def test_results_come_back_in_the_order_asked_and_run_in_threads():
    started = threading.Barrier(3, timeout=10)  # only met if three calls run at the same time

    def call(n):
        started.wait()
        return n * n, threading.current_thread().name

    results = parallel.gather([lambda n=n: call(n) for n in range(3)])
    assert [r[0] for r in results] == [0, 1, 4]
    assert all(name.startswith("read") for _, name in results)


def test_each_call_sees_the_app_the_page_runs_in():
    app = Flask("summary")
    app.config["RUNTIME"] = "dongguan"
    with app.app_context():
        assert parallel.gather([lambda: current_app.config["RUNTIME"]] * 5) == ["dongguan"] * 5


def test_a_failing_read_raises_its_error():
    def bad():
        raise ValueError("no such period")

    with pytest.raises(ValueError, match="no such period"):
        parallel.gather([lambda: 1, bad, lambda: 3])
