"""DFKD audio benchmark harness."""
