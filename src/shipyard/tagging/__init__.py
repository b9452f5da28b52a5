"""docker/metadata-action's tag language (pure): tags: and flavor: rules, templates, labels."""
