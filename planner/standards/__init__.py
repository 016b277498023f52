"""Standards compliance of service centers, with city standards kept as data.

:mod:`planner.standards.profiles` reads the profiles (built-in ``*.toml`` here, or a
user's file), :mod:`planner.standards.checks` measures each center against them
(reading its attributes through :mod:`planner.standards.attributes`),
:mod:`planner.standards.summary` counts compliance per area,
:mod:`planner.standards.sampling` draws inspection samples and
:mod:`planner.standards.inspection` routes inspection rounds.
"""

from planner.standards.checks import check_centers
from planner.standards.profiles import available_profiles, load_profile
from planner.standards.summary import summarize_compliance

__all__ = ["available_profiles", "check_centers", "load_profile", "summarize_compliance"]
