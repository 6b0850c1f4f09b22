-- One database, one schema per service, one role per service that owns only its schema.
-- Safe to run again: every step checks before it creates.
-- The passwords below are for development and docker-compose; production sets its own
-- (ALTER ROLE … PASSWORD) or points each service at a managed database.

DO $$
DECLARE
    service record;
BEGIN
    FOR service IN SELECT * FROM (VALUES ('meet'), ('identity'), ('uai'), ('vault')) AS s(name) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = service.name) THEN
            EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', service.name, service.name);
        END IF;
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', service.name, service.name);
        -- A role sees its own schema first and nothing else by default.
        EXECUTE format('ALTER ROLE %I SET search_path = %I', service.name, service.name);
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', service.name);
    END LOOP;
END
$$;

-- No service writes to public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
