"""The status page (`/api/status`): overview, lineage and template views, as HTML and as JSON."""
