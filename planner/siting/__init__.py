"""Siting: covering and median models solved with HiGHS, and the planner's proposals."""
