"""Recipes: schema, loading, claim rules, lifecycle."""
