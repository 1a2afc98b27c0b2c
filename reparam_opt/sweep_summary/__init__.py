"""Summarise a finished sweep from what its jobs wrote: a Hydra callback and a command.

The callback ``SweepSummary`` (registered in ``conf/config.yaml`` under ``hydra.callbacks``)
runs once at the end of every multirun, with any launcher. ``python -m reparam_opt.sweep_summary
SWEEP_DIR`` writes the same summary for an existing sweep. ``jobs`` reads and groups the jobs,
``report`` writes summary.md, summary.csv and the figure, ``figure`` draws it (``elbo_panel`` its
ELBO panels, where J is −ELBO), ``axis_limits`` fits its axes to what did not diverge.
Importing this package does not import matplotlib.
"""

from reparam_opt.sweep_summary.callback import SweepSummary

__all__ = ["SweepSummary"]
