"""Coverage planning for party-mass service centers."""

__version__ = "0.1.0"
