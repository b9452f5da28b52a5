"""The release plan (pure): one function turns every input into the full, ordered plan; promotion, builders, cache, layouts."""
