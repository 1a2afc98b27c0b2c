"""The Slurm launcher (``hydra/launcher=slurm``): submitit's, made to end on a cluster without accounting.

submitit learns a job's state from ``sacct``. On a cluster without Slurm accounting (the local
one of scripts/local_slurm.sh, and many small ones) sacct fails, submitit warns about it twice per
poll, and a job that ends without a result (``scancel``, a node failure) never looks finished, so
the sweep waits forever. Two changes, both in the sweep's own process:

- ``QueueWatcher`` asks ``squeue`` instead once sacct has failed, saying so in one line: squeue
  lists a finished job's state (COMPLETED, CANCELLED, FAILED...) for ``MinJobAge`` seconds, and a
  job that it no longer lists has left the queue (state ``GONE``);
- ``SlurmLauncher.launch`` waits for every job, and a job that ended without a result is logged
  in one line and returned to Hydra as finished, so the sweep goes on to its summary, which lists
  the job as failed (its summary.json says ``interrupted`` / ``SIGTERM`` after a scancel, or is
  missing after a SIGKILL) and makes the sweep exit 1.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides

try:  # the launchers extra; without it Hydra, which imports every plugin module, finds none here
    from hydra_plugins.hydra_submitit_launcher import submitit_launcher
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
except ImportError:  # pragma: no cover - exercised by an install without [launchers]
    submitit_launcher = None
from omegaconf import OmegaConf

log = logging.getLogger(__name__)


def queue_watcher(delay_s: int = 60) -> Any:
    """A submitit ``SlurmInfoWatcher`` that falls back on squeue when sacct fails (see the module)."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    class QueueWatcher(SlurmInfoWatcher):
        #: None until sacct was tried; then whether job states come from squeue.
        use_squeue: bool | None = None

        def _make_command(self) -> list[str] | None:
            command = super()._make_command()
            if command is None or not self.use_squeue:
                return command
            jobs = ",".join(sorted({job.split("_")[0] for job in self._registered - self._finished}))
            return ["squeue", "--noheader", "--array", "--states=all", "--format=%i|%T|%N", f"--jobs={jobs}"]

        def update(self) -> None:
            command = self._make_command()
            if self.use_squeue is None and command is not None:
                try:
                    subprocess.run(command, check=True, capture_output=True)
                    self.use_squeue = False
                except (OSError, subprocess.CalledProcessError) as error:
                    stderr = (getattr(error, "stderr", None) or b"").decode(errors="replace").strip()
                    log.info("sacct gives no job states (%s): reading them from squeue", stderr or error)
                    self.use_squeue = True
            super().update()

        def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
            if not self.use_squeue:
                return super().read_info(string)
            text = string.decode() if isinstance(string, bytes) else string
            info = super().read_info("JobID|State|NodeList\n" + text)
            for job in self._registered - self._finished:  # squeue no longer lists it: it left the queue
                info.setdefault(job, {"JobID": job, "State": "GONE", "NodeList": ""})
            return info

    return QueueWatcher(delay_s=delay_s)


class SlurmLauncher(submitit_launcher.SlurmLauncher if submitit_launcher else object):
    """submitit's Slurm launcher with ``queue_watcher`` and a wait that survives a job without a result."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit
        from submitit.slurm.slurm import SlurmJob

        if not hasattr(SlurmJob.watcher, "use_squeue"):  # once per process
            SlurmJob.watcher = queue_watcher()  # shared by every Slurm job of this process
        assert self.config is not None and len(job_overrides) > 0
        params = dict(self.params)
        init_keys = {"max_num_timeout", "submitit_folder"}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=params["submitit_folder"],
            **{f"{self._EXECUTOR}_max_num_timeout": params["max_num_timeout"]}
            if "max_num_timeout" in params
            else {},
        )
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                k if k in base else f"{self._EXECUTOR}_{k}": v
                for k, v in params.items()
                if k not in init_keys
            }
        )
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        log.info("Submitit 'slurm' sweep output dir : %s", sweep_dir)
        job_params = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
            job_params.append(
                (list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state())
            )
        jobs = executor.map_array(self, *zip(*job_params))
        return [result_of(job, overrides) for job, overrides in zip(jobs, job_overrides)]


def result_of(job: Any, overrides: Sequence[str]) -> JobReturn:
    """The job's JobReturn; for a job that ended without one, a line and a finished, empty JobReturn.

    Hydra would re-raise a failed JobReturn and end the sweep before its summary; the job's own
    summary.json (or its absence) is what says it failed.
    """
    from submitit.core.utils import UncompletedJobError

    try:
        return job.results()[0]
    except UncompletedJobError:
        state = job.watcher.get_state(job.job_id, mode="cache")
        log.error(
            "job %s (%s) ended without a result (Slurm state %s); its summary.json, if any, says how",
            job.job_id,
            " ".join(filter_overrides(overrides)),
            state,
        )
        return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=None)
