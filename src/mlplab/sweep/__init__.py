"""Sweeps: many variants of one experiment trained at once (stacked where shapes allow), stored, compared."""
