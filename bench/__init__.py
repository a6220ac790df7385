"""Réactif's benchmark instrument (`make bench`, docs/performance.md).

Every figure is measured next to its physical limit in the same run: the
webhook over HTTP next to a bare INSERT, the Celery worker next to the service
in a loop, a page next to the bare SQL it runs. Results go to
bench/results/<date>.json and .md.
"""
