"""Value types (pure): image references, platforms, versions; each parses and prints back."""
