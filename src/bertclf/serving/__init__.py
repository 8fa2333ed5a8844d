"""Serving: the string-input SavedModel a run exports, and predictions from it."""
