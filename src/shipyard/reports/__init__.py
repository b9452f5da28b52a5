"""What Shipyard tells its users (pure): reports, release notes, SARIF, verification, CI output, progress events."""
