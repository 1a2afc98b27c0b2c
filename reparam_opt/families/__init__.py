"""What q is: the families of distributions whose parameters are trained, each one object built
from ``cfg.family`` (``base.build``) that the run asks everything that depends on q."""

from reparam_opt.families.base import Family, build
from reparam_opt.families.bernoulli import BernoulliFamily
from reparam_opt.families.gaussian import GaussianFamily

#: Every family, by its option in the ``family`` config group.
FAMILIES: dict[str, type[Family]] = {f.name: f for f in (GaussianFamily, BernoulliFamily)}

__all__ = ["FAMILIES", "BernoulliFamily", "Family", "GaussianFamily", "build"]
