"""What f is: the costs E_q[f] is taken of, with the closed forms each one has."""

from reparam_opt.objectives.costs import Cosine, GaussianBump, Objective, Optimum, ShiftedSquare, Square
from reparam_opt.objectives.target import Target

__all__ = ["Cosine", "GaussianBump", "Objective", "Optimum", "ShiftedSquare", "Square", "Target"]
