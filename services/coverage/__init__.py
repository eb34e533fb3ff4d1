"""Coverage: the plan ledger."""
