"""The variance study: ``python -m reparam_opt.variance`` (a Hydra app; config ``conf/variance.yaml``).

It repeats the seed notebook's experiment (θ = 2, σ = 1, n from 10 to 10⁵, 100 repetitions) for
every configured estimator, against the closed forms: ``study`` measures, ``report`` writes the
table, ``variance.csv``, ``variance.png`` and the TensorBoard figure into the run directory.
"""
