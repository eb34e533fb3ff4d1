"""The four services of the care-plan platform, each its own process and database."""
