-- The answer each activation request got, the latest for a request a video review decided: a
-- request sent again under its id is answered with a copy of it, never decided twice.
CREATE TABLE request_answers (
    request_id     text PRIMARY KEY,
    event_id       uuid NOT NULL,
    event_type     text NOT NULL,
    payload        jsonb NOT NULL,
    key            text NOT NULL,
    correlation_id text NOT NULL,
    answered_at    timestamptz NOT NULL DEFAULT now()
);
