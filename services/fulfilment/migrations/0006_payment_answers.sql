-- F1: each payment's one answer (PaymentRecorded), by payment id: a payment sent again is
-- answered with a copy of it (copy_of = event_id), never applied twice.
CREATE TABLE payment_answers (
    payment_id  text PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    answer      jsonb NOT NULL,
    answered_at timestamptz NOT NULL DEFAULT now()
);
