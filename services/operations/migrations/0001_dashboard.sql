-- The dashboard's own view of the cases, projected from claims, coverage and fulfilment events.
-- Each column is filled by the events that know it; `stage` only moves forward (domain.Stage).
CREATE TABLE cases (
    case_id                 text PRIMARY KEY,
    stage                   smallint NOT NULL,
    plan_id                 uuid,
    family                  text,
    outcome                 text,
    reasons                 text[] NOT NULL DEFAULT '{}',
    decided_at              timestamptz,
    currency                text,
    fee                     numeric,
    from_base_quota         numeric,
    from_consumables_quota  numeric,
    customer_share          numeric,
    updated_at              timestamptz NOT NULL
);
CREATE INDEX cases_decided_at ON cases (decided_at);

-- Every record of the dead-letter topics, as read from them (the record itself stays in Kafka).
CREATE TABLE dead_letters (
    topic               text NOT NULL,
    partition           integer NOT NULL,
    "offset"            bigint NOT NULL,
    service             text NOT NULL,
    reason              text NOT NULL,
    error_type          text NOT NULL,
    original_topic      text NOT NULL,
    original_partition  integer,
    original_offset     bigint,
    failed_at           text NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);

-- Who replayed which dead letter, and when: a dead letter is replayed at most once.
CREATE TABLE replays (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    replayed_by  text NOT NULL,
    replayed_at  timestamptz NOT NULL DEFAULT now(),
    sent_to      text NOT NULL,
    sent_offset  bigint,
    PRIMARY KEY (topic, partition, "offset")
);
