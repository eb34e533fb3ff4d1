-- Claims' read model follows the ledger's terms (A3): a renewal brings its own replacements.
CREATE TABLE plan_view_terms (
    plan_id           uuid NOT NULL REFERENCES plan_view (plan_id),
    term_no           integer NOT NULL,
    term_start        timestamptz NOT NULL,
    term_end          timestamptz NOT NULL,
    replacements_left integer NOT NULL,
    flyaways_left     integer NOT NULL,
    replacements_used integer NOT NULL DEFAULT 0,
    state             text NOT NULL DEFAULT 'active',
    PRIMARY KEY (plan_id, term_no)
);

INSERT INTO plan_view_terms (plan_id, term_no, term_start, term_end, replacements_left,
                             flyaways_left, replacements_used, state)
SELECT plan_id, 1, term_start, term_end, replacements_left, flyaways_left, replacements_used,
       state
FROM plan_view;

ALTER TABLE plan_view
    DROP COLUMN term_start, DROP COLUMN term_end, DROP COLUMN replacements_left,
    DROP COLUMN flyaways_left, DROP COLUMN replacements_used, DROP COLUMN state;
