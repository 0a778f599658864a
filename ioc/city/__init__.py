"""The city: its pack (divisions, orgs, key points, units, rules), coordinates and boundary files."""
