"""The plan ledger's rules (P1, A3-A5, C1, C5-C10, P5, F3), pure: no I/O.

`ledger`: what a term has left and what a case may take from it, consumer and agricultural side
by side. `plan`: the plan and its terms as the ledger holds them, the rows a decision adds and
the `PlanBook` of a batch. `decisions`: each event decided against the book, in the order it
came, each decision carrying the plan's new state and the events it emits.
"""
