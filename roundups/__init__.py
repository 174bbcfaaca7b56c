"""Round-up composition, exports and the ``roundup`` command line."""
