"""The local web dashboard: pages and their JSON twins."""
