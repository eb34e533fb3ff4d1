-- Role and databases of the local stack. Idempotent: run on every start by
-- infra/postgres/start.sh, and once by the postgres image in docker-compose.yml
-- (where the role already exists through POSTGRES_USER). The local stack's start
-- script sets the role's random password afterwards.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'careplan') THEN
        CREATE ROLE careplan LOGIN SUPERUSER;
    END IF;
END
$$;

-- CREATE DATABASE has no IF NOT EXISTS and cannot run inside DO, hence
-- psql's \gexec: it runs each statement the query returns.
SELECT format('CREATE DATABASE %I OWNER careplan', name)
FROM unnest(ARRAY[
    'careplan_activation',
    'careplan_coverage',
    'careplan_claims',
    'careplan_fulfilment',
    'careplan_lookup'
]) AS name
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = name)
\gexec
