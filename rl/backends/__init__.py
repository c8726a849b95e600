"""Thin adapters from training frameworks' calling conventions to reward/."""
