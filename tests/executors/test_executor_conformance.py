"""Every executor shipped in this version passes the shared conformance suite."""

from __future__ import annotations

import pytest

from tunefleet.executors import LocalExecutor, SimulatedExecutor, ThreadExecutor
from tunefleet.executors.base import Executor
from tunefleet.testing.executors import ExecutorConformance

pytestmark = pytest.mark.timeout(60)


class TestLocalExecutorConformance(ExecutorConformance):
    def make_executor(self) -> Executor:
        return LocalExecutor(num_cpus=2)


class TestSimulatedExecutorConformance(ExecutorConformance):
    event_timeout = 10.0

    def make_executor(self) -> Executor:
        return SimulatedExecutor(num_workers=2)


class TestThreadExecutorConformance(ExecutorConformance):
    def make_executor(self) -> Executor:
        return ThreadExecutor(num_threads=2)
