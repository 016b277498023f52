"""Standards compliance of service centers, with city standards kept as data.

:mod:`planner.standards.profiles` reads the profiles (built-in ``*.toml`` here, or a
user's file), :mod:`planner.standards.checks` measures each center against them and
:mod:`planner.standards.inspection` plans inspection rounds.
"""

from planner.standards.checks import check_centers, summarize_compliance
from planner.standards.profiles import available_profiles, load_profile

__all__ = ["available_profiles", "check_centers", "load_profile", "summarize_compliance"]
