"""reparam-opt's Hydra plugins: the Slurm launcher that ``hydra/launcher=slurm`` names (slurm_launcher.py).

Hydra finds launchers only under the ``hydra_plugins`` namespace package, hence this place.
"""
