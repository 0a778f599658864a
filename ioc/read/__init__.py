"""Read models for pages, the API and exports, computed in SQL; nothing here writes."""
