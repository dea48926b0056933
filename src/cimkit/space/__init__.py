"""Search spaces: dimensions, sub-spaces (S_M, S_Q, S_H), the joint space and YAML specs."""

from cimkit.space.dims import Choice, JointSpace, SubSpace
from cimkit.space.spec import SearchSpace, SpaceSpec, fmt_pow10, load_space, size_report

__all__ = [
    "Choice",
    "JointSpace",
    "SearchSpace",
    "SpaceSpec",
    "SubSpace",
    "fmt_pow10",
    "load_space",
    "size_report",
]
