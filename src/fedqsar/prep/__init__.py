"""Partner-local data preparation: raw tables -> keyed, harmonised PreparedSet."""
