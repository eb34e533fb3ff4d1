-- C9: each term's end as the ledger announced it (TermEnded), once per term.
CREATE TABLE term_ends (
    plan_id      uuid NOT NULL,
    term_no      integer NOT NULL,
    sn           text NOT NULL,
    ended_at     timestamptz NOT NULL,
    reason       text NOT NULL,
    announced_at timestamptz NOT NULL,
    PRIMARY KEY (plan_id, term_no)
);
CREATE INDEX term_ends_by_announcement ON term_ends (announced_at);
