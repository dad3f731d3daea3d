"""Spark's context for the Spark engine: opening it, and what a trial asks of it.

Resources
---------
``Resources.cpu`` becomes ``spark.task.cpus`` (rounded up: Spark counts whole cores);
``gpu`` and custom resources become ``spark.task.resource.<name>.amount`` (fractions allowed
as Spark allows them). In a session created here they are set in its configuration; in a
session passed with ``spark=`` whose task defaults differ they are requested through a
stage-level ``TaskResourceProfile`` on the slot jobs (Spark standalone, YARN and Kubernetes
with dynamic allocation off; Spark refuses them in ``local`` mode). A slot task sets
``CUDA_VISIBLE_DEVICES`` to the GPU addresses Spark assigned to it before it loads the
trainable. Executors must offer the resources (``spark.executor.resource.gpu.amount`` and a
discovery script).

The driver of the slot tasks is :mod:`tunefleet.executors.spark`.
"""

from __future__ import annotations

import math
import os
import re
import sys
from typing import Any

from tunefleet.errors import TuneValueError
from tunefleet.executors import spark_classcache
from tunefleet.protocol import Resources

_LOCAL_MASTER = re.compile(r"^local(?:\[(\*|\d+)(?:\s*,\s*\d+)?\])?$")
_LOCAL_CLUSTER = re.compile(r"^local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _import_pyspark() -> Any:
    try:
        import pyspark
        from pyspark import SparkContext  # noqa: F401 - fails early if pyspark is broken
    except ImportError as exc:
        raise ImportError(
            "the Spark engine needs pyspark: pip install tunefleet[spark] "
            f"(importing it failed: {exc})"
        ) from exc
    return pyspark


def _local_cores(master: str) -> int | None:
    """Cores of a ``local``/``local[N]``/``local[N,F]``/``local-cluster`` master; else None."""
    m = _LOCAL_MASTER.match(master)
    if m:
        n = m.group(1)
        if n is None:
            return 1
        return os.cpu_count() or 1 if n == "*" else int(n)
    m = _LOCAL_CLUSTER.match(master)
    if m:
        return int(m.group(2))  # per executor: a task must fit on one executor
    return None


def _is_loopback_master(master: str) -> bool:
    if master.startswith("local"):
        return True
    if master.startswith("spark://"):
        host = master[len("spark://") :].rsplit(":", 1)[0].strip("[]")
        return host in _LOOPBACK
    return False


def task_requests(resources: Resources) -> tuple[int, dict[str, float]]:
    """Spark's task request for ``resources``: whole CPUs and other resources by name."""
    cpus = max(1, math.ceil(resources.cpu - 1e-9))
    other: dict[str, float] = {}
    if resources.gpu > 0:
        other["gpu"] = float(resources.gpu)
    for name, amount in resources.custom.items():
        if amount > 0:
            other[str(name)] = float(amount)
    return cpus, other


def session_settings(
    master: str, resources: Resources, conf: dict[str, str] | None = None
) -> dict[str, str]:
    """The configuration of a SparkSession created by the executor (``conf`` wins)."""
    cpus, other = task_requests(resources)
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.python.worker.reuse": "true",
        # A lost task must surface to tunefleet, which relaunches from the checkpoint.
        "spark.task.maxFailures": "1",
        "spark.task.cpus": str(cpus),
        # The driver JVM only schedules slot tasks: C1-compiled code is enough, and skipping
        # C2 compilation cuts its start-up by about a third on a small machine.
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
    }
    for name, amount in other.items():
        settings[f"spark.task.resource.{name}.amount"] = repr(amount)
    if _is_loopback_master(master):
        settings["spark.driver.host"] = "127.0.0.1"
        settings["spark.driver.bindAddress"] = "127.0.0.1"
        if os.environ.get("PYSPARK_PYTHON", sys.executable) == sys.executable:
            # Workers on this machine run this Python, where tunefleet is installed: start
            # pyspark's daemon from the installed pyspark, not Spark's zip (2 s per start).
            settings["spark.python.daemon.module"] = "tunefleet.worker.spark_daemon"
    if master.startswith("local-cluster"):
        settings["spark.executor.memory"] = "512m"
    settings.update(conf or {})
    return settings


def default_master(resources: Resources | None = None) -> str:
    """``local[N,1]``: all cores of this machine, no Spark-level task retry."""
    return f"local[{os.cpu_count() or 1},1]"


def task_defaults(sc: Any) -> tuple[int, dict[str, float]]:
    """The task request (cpus, other resources) of ``sc``'s configuration."""
    conf = sc.getConf()
    cpus = int(conf.get("spark.task.cpus", "1"))
    other: dict[str, float] = {}
    for key, value in conf.getAll():
        m = re.match(r"^spark\.task\.resource\.([^.]+)\.amount$", key)
        if m:
            other[m.group(1)] = float(value)
    return cpus, other


def make_profile(sc: Any, cpus: int, other: dict[str, float]) -> Any:
    """A TaskResourceProfile for a user's session whose task defaults differ."""
    from pyspark.resource import ResourceProfileBuilder, TaskResourceRequests

    req = TaskResourceRequests().cpus(cpus)
    for name, amount in other.items():
        req = req.resource(name, amount)
    profile = ResourceProfileBuilder().require(req).build
    try:
        sc.parallelize([0], 1).withResources(profile)
    except Exception as exc:
        first = str(exc).strip().splitlines()
        reason = next((ln for ln in first if "Exception" in ln), first[0] if first else "")
        raise TuneValueError(
            f"resources_per_trial: trials need {cpus} cpu(s) and {other or 'no other'} "
            "resources per task, which differs from the task defaults of the given "
            f"SparkSession (master {sc.master}), and this Spark refuses stage-level "
            f"resource profiles ({reason.strip()}). Create the session with "
            f"spark.task.cpus={cpus} (and spark.task.resource.<name>.amount), or let "
            "tunefleet create it (SparkExecutor(master=...))"
        ) from exc
    return profile


def open_context(
    given: Any,
    master: str | None,
    resources: Resources,
    conf: dict[str, str],
    app_name: str,
    class_cache: bool,
) -> tuple[Any, Any, bool]:
    """``(SparkContext, what the user passed or the context, created here)``: the session
    ``given``, else the active one, else a new bare SparkContext for ``master``."""
    _import_pyspark()
    from pyspark import SparkConf, SparkContext

    if given is not None:
        return (given.sparkContext if hasattr(given, "sparkContext") else given), given, False
    active = SparkContext._active_spark_context
    if active is not None:
        if master is not None and active.master != master:
            raise TuneValueError(
                f"master={master!r}: a SparkContext with master {active.master!r} is "
                "already running in this process (Spark allows one); pass it with "
                "spark=... or stop it first"
            )
        return active, None, False  # the user's (a notebook's): used, never stopped
    master = master or default_master(resources)
    if _is_loopback_master(master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # A bare SparkContext: the slots only run RDD jobs, and a SparkSession would also
    # initialise Spark SQL (about 10 s more of start-up on this 2-core machine).
    settings = session_settings(master, resources, conf)
    archive = spark_classcache.java_options() if class_cache else ""

    def create(extra_java_options: str) -> Any:
        options = dict(settings)
        if extra_java_options:
            options["spark.driver.extraJavaOptions"] += " " + extra_java_options
        conf = SparkConf().setMaster(master).setAppName(app_name)
        return SparkContext.getOrCreate(conf.setAll(list(options.items())))

    try:
        sc = create(archive)
    except Exception:
        if not archive:
            raise
        # A damaged archive stops the JVM from starting: drop it, start without.
        spark_classcache.discard()
        sc = create("")
    return sc, sc, True


def planned_master(sc: Any, given: Any, master: str | None) -> str:
    """The master trials will run on, as far as it is known without starting Spark."""
    if sc is not None:
        return str(sc.master)
    if given is not None:
        return str(getattr(getattr(given, "sparkContext", given), "master", ""))
    if master is not None:
        return master
    pyspark = sys.modules.get("pyspark")  # only if already imported: validation is cheap
    active = getattr(getattr(pyspark, "SparkContext", None), "_active_spark_context", None)
    return str(active.master) if active is not None else default_master()


def check_task_fits(resources: Resources, master: str) -> None:
    """Refuse, before Spark starts, a trial that no task of ``master`` can hold."""
    if not resources.cpu > 0 and not resources.gpu > 0 and not resources.custom:
        raise TuneValueError("resources_per_trial: a trial must request some resource")
    from tunefleet.executors.gpu_requests import spark_gpu_refusal

    refusal = spark_gpu_refusal(resources, master)
    if refusal is not None:
        raise TuneValueError(refusal)
    cpus, _ = task_requests(resources)
    cores = _local_cores(master)
    if cores is not None and cpus > cores:
        raise TuneValueError(
            f"resources_per_trial: cpu={resources.cpu} needs {cpus} cores in one Spark "
            f"executor, but the master {master!r} offers {cores}"
        )


def concurrent_slots(sc: Any, profile: Any, cpus: int) -> int:
    """Trials Spark can run at once: its concurrent tasks, in tasks of ``cpus`` cores."""
    jsc = sc._jsc.sc()
    if profile is None:
        rp = jsc.resourceProfileManager().defaultResourceProfile()
        return int(jsc.maxNumConcurrentTasks(rp))
    # A TaskResourceProfile shares the default executors: count their cores.
    rp = jsc.resourceProfileManager().defaultResourceProfile()
    default_cpus, _ = task_defaults(sc)
    return int(jsc.maxNumConcurrentTasks(rp)) * default_cpus // cpus
