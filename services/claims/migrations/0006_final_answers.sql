-- One final answer per case: the ids of the decision and of the final outcome a case published,
-- which every later answer about it names, and an express unit's arrival as it was reported (X3),
-- so that the same report sent again is answered again.
ALTER TABLE cases
    ADD COLUMN decision_id uuid,
    ADD COLUMN final_id uuid,
    ADD COLUMN unit_report jsonb;

-- Cases decided before: their decision is in the outbox, which keeps what was published.
UPDATE cases SET decision_id = o.event_id
FROM outbox o
WHERE o.event_type = 'claims.claim-decided' AND o.correlation_id = cases.case_id;

-- C5, C6: a consumer approval reserves a replacement on the term it was judged against; those
-- still before the ledger get that term (AG cases always had it).
UPDATE cases SET term_no = t.term_no
FROM plan_view_terms t
WHERE cases.term_no IS NULL AND cases.ledger_state = 'pending' AND t.plan_id = cases.plan_id
  AND cases.incident_at >= t.term_start AND cases.incident_at < t.term_end;

-- What the approvals the ledger has not answered hold, read under the plan's lock per batch.
CREATE INDEX cases_pending_by_term ON cases (plan_id, term_no) WHERE ledger_state = 'pending';
