"""What comes in: the ingest pipeline, fusion, CAP alerts, sensor readings and the feed worker."""
