"""What f is: the costs E_q[f] is taken of, each f over the whole vector x [..., D], with the
closed forms it has. A ``_target_`` in ``conf/objective/`` names a class here.

Every module of this package is imported here, and ``OBJECTIVES`` lists every ``Objective``
subclass with a name, so a new objective is its module (the class with its schema) and its YAML.
"""

import importlib
import pkgutil

from reparam_opt.objectives.base import Objective, ObjectiveConfig, Optimum
from reparam_opt.objectives.bump import GaussianBump
from reparam_opt.objectives.cosine import Cosine
from reparam_opt.objectives.separable import Separable
from reparam_opt.objectives.squares import ShiftedSquare, Square
from reparam_opt.objectives.target import Target

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


#: Every objective by its ``objective=`` option, in alphabetical order.
OBJECTIVES: dict[str, type[Objective]] = {
    c.name: c
    for c in sorted(_subclasses(Objective), key=lambda c: c.name)
    if c.name and c.__module__.startswith(__name__)
}

__all__ = [
    "OBJECTIVES",
    "Cosine",
    "GaussianBump",
    "Objective",
    "ObjectiveConfig",
    "Optimum",
    "Separable",
    "ShiftedSquare",
    "Square",
    "Target",
]
