"""Feed adapters: one module per source kind, all registered by kind in ``feeds.base``."""
