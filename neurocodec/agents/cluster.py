"""Scene jobs on a Dask cluster (``distributed``): the :class:`~.executor.Executor` for ``--cluster``.

Dask schedules the jobs, re-runs a job whose worker was lost, and scales
from a :class:`distributed.LocalCluster` on one machine to a scheduler and
workers on many (``dask scheduler`` / ``dask worker``, or a deployer). A
job is the same small :class:`~.executor.Task` the local executors run:
its result comes back to this process, which assembles the ``.ncv`` in
scene order, so the bytes do not depend on the cluster, its size or the
order in which jobs finish. Workers need neurocodec installed (the same
version). In this first form a job carries its scene's raw frames from
this process to the worker.

``spec`` forms: ``local:N`` (a LocalCluster of N one-thread worker processes,
started and stopped with the encode) or a scheduler address
(``tcp://HOST:PORT``, ``tls://...``).
"""

from __future__ import annotations

from typing import Any

from ..errors import SettingsError
from ..settings import LOCAL_CLUSTER, check_cluster

__all__ = ["DaskExecutor"]


class DaskExecutor:
    """Runs tasks on a Dask cluster and hands back their results as they finish.

    Args:
        spec: ``local:N`` or a scheduler address (see the module docstring).
    """

    def __init__(self, spec: str):
        check_cluster(spec)
        try:
            from distributed import Client, LocalCluster  # why: distributed is optional and heavy
        except ImportError:
            raise SettingsError("--cluster needs Dask's distributed: pip install 'neurocodec[cluster]'") from None
        self._cluster = None
        m = LOCAL_CLUSTER.fullmatch(spec)
        if m:
            self._cluster = LocalCluster(n_workers=int(m.group(1)), threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
        else:
            try:
                self.client = Client(spec, timeout=30)
            except OSError as exc:
                raise SettingsError(f"cluster {spec}: cannot reach the scheduler ({exc})") from None
        #: Jobs kept in flight: one per worker thread (at least one).
        self.workers = max(1, sum(self.client.nthreads().values()))
        self._pending: dict[Any, int] = {}

    def submit(self, task) -> None:
        fut = self.client.submit(task.fn, *task.args, pure=False)
        self._pending[fut] = task.index

    def next_finished(self) -> tuple[int, Any]:
        from distributed import wait  # why: distributed is optional and heavy

        done = [f for f in self._pending if f.done()]
        if not done:
            wait(list(self._pending), return_when="FIRST_COMPLETED")
            done = [f for f in self._pending if f.done()]
        fut = min(done, key=self._pending.__getitem__)  # the earliest of those finished together
        return self._pending.pop(fut), fut.result()

    def close(self) -> None:
        try:
            for fut in self._pending:
                fut.cancel()
            self._pending.clear()
            self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()
