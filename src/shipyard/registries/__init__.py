"""Registry backends over HTTP: the OCI distribution API, GHCR's Packages API, Docker Hub's API."""
