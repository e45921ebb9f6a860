"""Type stubs: filled below."""
