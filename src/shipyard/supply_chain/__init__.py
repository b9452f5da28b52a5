"""Supply-chain documents and command lines (pure): cosign commands, toolrun plans, SLSA provenance."""
