-- Mislata's PostgreSQL roles for one database. Run it as a superuser connected to that database:
--
--   MISLATA_PG_OWNER_PASSWORD=… MISLATA_PG_IDENTITY_PASSWORD=… MISLATA_PG_API_PASSWORD=… MISLATA_PG_WORKER_PASSWORD=… \
--     psql -X -v ON_ERROR_STOP=1 -d mislata -f deploy/postgres/roles.sql
--
-- For the database <db> it creates, or sets the password of:
--   <db>_owner     owns the schemas mislata and identity; the services use it only while they start, to apply the
--                  migrations and the grants (QAPI_POSTGRES_MIGRATIONS)
--   <db>_identity, <db>_api, <db>_worker
--                  the login role each service uses at run time (QAPI_POSTGRES); what it may do on each table is
--                  granted by the owner after every migration run, from ONE table of rules:
--                  src/Mislata.Infrastructure/Persistence/DatabaseGrants.cs
-- None of them is a superuser or may create roles or databases. Only these four roles may connect to <db>.
-- Objects of the two schemas owned by someone else (an install that ran as the superuser) are handed to <db>_owner.
-- Idempotent: run it again after changing a password. Needs psql 15 or newer (\getenv). The passwords come from the
-- environment, never from the command line, and the session keeps its statements out of the server log.
\set ON_ERROR_STOP on
\set QUIET on
SET client_min_messages = warning;
-- Only a superuser may change these; a managed service's admin role runs the rest without them.
DO $$
BEGIN
  SET log_statement = 'none';
  SET log_min_error_statement = 'panic';
  SET log_min_duration_statement = -1;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'not a superuser: statements with passwords may reach the server log if they fail';
END $$;

\getenv owner_password MISLATA_PG_OWNER_PASSWORD
\getenv identity_password MISLATA_PG_IDENTITY_PASSWORD
\getenv api_password MISLATA_PG_API_PASSWORD
\getenv worker_password MISLATA_PG_WORKER_PASSWORD
\if :{?owner_password}
\else
  \warn 'MISLATA_PG_OWNER_PASSWORD is not set'
  SELECT 1/0 AS "MISLATA_PG_OWNER_PASSWORD is not set";
\endif
\if :{?identity_password}
\else
  \warn 'MISLATA_PG_IDENTITY_PASSWORD is not set'
  SELECT 1/0 AS "MISLATA_PG_IDENTITY_PASSWORD is not set";
\endif
\if :{?api_password}
\else
  \warn 'MISLATA_PG_API_PASSWORD is not set'
  SELECT 1/0 AS "MISLATA_PG_API_PASSWORD is not set";
\endif
\if :{?worker_password}
\else
  \warn 'MISLATA_PG_WORKER_PASSWORD is not set'
  SELECT 1/0 AS "MISLATA_PG_WORKER_PASSWORD is not set";
\endif

SELECT current_database() AS db,
       current_database() || '_owner' AS owner_role,
       current_database() || '_identity' AS identity_role,
       current_database() || '_api' AS api_role,
       current_database() || '_worker' AS worker_role
\gset

BEGIN;

SELECT format('CREATE ROLE %I', r)
  FROM unnest(ARRAY[:'owner_role', :'identity_role', :'api_role', :'worker_role']) AS r
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r)
\gexec

SELECT format('ALTER ROLE %I WITH LOGIN NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L', r, p)
  FROM (VALUES (:'owner_role', :'owner_password'), (:'identity_role', :'identity_password'),
               (:'api_role', :'api_password'), (:'worker_role', :'worker_password')) AS v(r, p)
\gexec

-- New roles have none of these; only a superuser may take them away (a managed service's admin cannot).
SELECT format('ALTER ROLE %I WITH NOSUPERUSER NOREPLICATION NOBYPASSRLS', r)
  FROM unnest(ARRAY[:'owner_role', :'identity_role', :'api_role', :'worker_role']) AS r
 WHERE (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
\gexec

-- Nobody else connects to this database; the owner may create the two schemas (EF Core's EnsureSchema checks it).
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT format('GRANT CONNECT, CREATE ON DATABASE %I TO %I', :'db', :'owner_role') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I, %I, %I', :'db', :'identity_role', :'api_role', :'worker_role') \gexec
-- PostgreSQL 15 and later already keep PUBLIC from creating in schema public; a cluster upgraded from 14 may not.
DO $$
BEGIN
  REVOKE CREATE ON SCHEMA public FROM PUBLIC;
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'could not revoke CREATE on schema public from PUBLIC';
END $$;

SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', s, :'owner_role') FROM unnest(ARRAY['mislata', 'identity']) AS s \gexec
SELECT format('ALTER SCHEMA %I OWNER TO %I', s, :'owner_role') FROM unnest(ARRAY['mislata', 'identity']) AS s \gexec

-- Tables (with their indexes and identity sequences), views and free-standing sequences made by another role.
SELECT format('ALTER %s %I.%I OWNER TO %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
              n.nspname, c.relname, :'owner_role')
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('mislata', 'identity')
   AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
   AND pg_get_userbyid(c.relowner) <> :'owner_role'
   AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
\gexec

COMMIT;
\echo roles of database :db: :owner_role (migrations), :identity_role, :api_role, :worker_role
