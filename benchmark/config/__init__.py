"""Configuration: presets, their command-line changes, and the identity of a sweep cell."""
