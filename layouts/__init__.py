"""Dash pages and their shared parts. Pages call ``ioc.read`` and ``ioc.chain`` functions, never the database."""
