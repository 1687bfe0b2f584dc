"""Celery workers that drive the line's equipment."""
