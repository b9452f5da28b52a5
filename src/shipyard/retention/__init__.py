"""Cleanup by policy (pure): the retention policy, the planner, what a registry holds."""
