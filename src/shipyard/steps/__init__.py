"""Executing steps: each module does one thing against an engine or a registry."""
