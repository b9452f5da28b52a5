"""Registry back-ends beyond the OCI client: cleanup over OCI, GHCR's Packages API, Docker Hub's API."""
