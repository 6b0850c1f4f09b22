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

-- A runtime role per service, <name>_app: it reads and writes its service's tables and
-- sequences, and creates nothing. In production the services run as it with
-- MIGRATE_ON_START=false, and only the migration job connects as the owner. Default
-- privileges make every table a later migration creates (as the owner) usable by it.
DO $$
DECLARE
    service record;
    app text;
BEGIN
    FOR service IN SELECT * FROM (VALUES ('meet'), ('identity'), ('uai'), ('vault')) AS s(name) LOOP
        app := service.name || '_app';
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
            EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', app, app);
        END IF;
        EXECUTE format('ALTER ROLE %I SET search_path = %I', app, service.name);
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', service.name, app);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', service.name, app);
        EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO %I', service.name, app);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I',
            service.name, service.name, app);
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I',
            service.name, service.name, app);
    END LOOP;
END
$$;
