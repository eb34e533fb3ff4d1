"""The operations dashboard: cases, decisions, money, lag, outbox backlog and dead letters."""
