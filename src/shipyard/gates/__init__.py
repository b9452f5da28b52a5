"""What must pass before any tag moves (pure): the scan gate's verdict and the smoke test."""
