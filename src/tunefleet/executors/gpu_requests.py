"""Why a GPU request cannot be met on Dask or Spark, in words that say what to change.

Kept apart from the engines' executors so that the rules are plain functions, tested without
a cluster. Ray's and the local engine's refusals live with their executors.
"""

from __future__ import annotations

from collections.abc import Iterable

from tunefleet.protocol import Resources

__all__ = ["dask_gpu_refusal", "spark_gpu_refusal"]


def dask_gpu_refusal(resources: Resources, worker_resources: Iterable[dict[str, float]]) -> str:
    """Extra words for Dask's refusal when the trial wants a GPU: none when no GPU asked."""
    if not resources.gpu > 0:
        return ""
    offered = [float(r.get("GPU", 0.0)) for r in worker_resources]
    if not any(offered):
        return (
            f" — no Dask worker declares a GPU resource, so gpu={resources.gpu:g} cannot be "
            "placed: start the workers with `dask worker ... --resources GPU=<n>` (n = GPUs "
            "of that worker) or pass DaskExecutor(resources={'GPU': n})"
        )
    return (
        f" — gpu={resources.gpu:g} per trial, but the most any worker declares is "
        f"GPU={max(offered):g}; ask for at most that, or declare more"
    )


def spark_gpu_refusal(resources: Resources, master: str) -> str | None:
    """Why ``master`` cannot give a task ``resources.gpu`` GPUs, or None when it may.

    Spark schedules task GPU resources (``spark.task.resource.gpu.amount``, stage-level
    resource profiles) only on masters that start executors: standalone ``spark://``,
    ``local-cluster[...]``, YARN, Kubernetes. ``local``/``local[N]`` runs tasks in the
    driver's JVM and ignores resource requests.
    """
    if not resources.gpu > 0:
        return None
    plain_local = master == "local" or master.startswith("local[")
    if not plain_local:
        return None
    return (
        f"resources_per_trial: gpu={resources.gpu:g}, but Spark's master {master!r} runs "
        "tasks inside the driver and schedules no GPU resources; use a master that starts "
        "executors offering GPUs (SparkExecutor(master='spark://host:7077' or "
        "'local-cluster[n,c,m]', conf={'spark.executor.resource.gpu.amount': ..., "
        "'spark.executor.resource.gpu.discoveryScript': ...})), or the local, ray or dask "
        "engine"
    )
