using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mislata.Infrastructure.Persistence.Migrations
{
    /// <summary>
    /// The key hierarchy (<see cref="PlatformKeys.PlatformKeyStore"/>) and the admin jobs (the master-key rotation). Plain
    /// SQL tables outside the EF model: both are read and written with SQL by the code that owns them. The migration
    /// records whether the database already holds data derived from the master key (tenants, API keys, audit events,
    /// identity's signing keys or users): such an installation's platform key must be its master key, so that everything
    /// derived before keeps working.
    /// </summary>
    [DbContext(typeof(MislataDbContext))]
    [Migration("20261207150000_PlatformKeys")]
    public partial class PlatformKeys : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                CREATE TABLE mislata.platform_keys (
                    id character varying(64) NOT NULL PRIMARY KEY,
                    wrapped_key bytea NOT NULL,
                    master_key_id character varying(64) NOT NULL,
                    created_at timestamp with time zone NOT NULL,
                    updated_at timestamp with time zone NOT NULL);

                CREATE TABLE mislata.platform_key_origin (
                    singleton boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (singleton),
                    legacy boolean NOT NULL);

                DO $$
                DECLARE
                    found boolean;
                BEGIN
                    found := EXISTS (SELECT 1 FROM mislata.tenants)
                        OR EXISTS (SELECT 1 FROM mislata.api_keys)
                        OR EXISTS (SELECT 1 FROM mislata.audit_events);
                    IF NOT found AND to_regclass('identity.signing_keys') IS NOT NULL THEN
                        EXECUTE 'SELECT EXISTS (SELECT 1 FROM identity.signing_keys)' INTO found;
                    END IF;
                    IF NOT found AND to_regclass('identity."AspNetUsers"') IS NOT NULL THEN
                        EXECUTE 'SELECT EXISTS (SELECT 1 FROM identity."AspNetUsers")' INTO found;
                    END IF;
                    INSERT INTO mislata.platform_key_origin (legacy) VALUES (found);
                END $$;

                CREATE TABLE mislata.admin_jobs (
                    id uuid NOT NULL PRIMARY KEY,
                    kind character varying(64) NOT NULL,
                    state character varying(16) NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
                    total integer NOT NULL DEFAULT 0,
                    done integer NOT NULL DEFAULT 0,
                    requested_by character varying(128) NOT NULL,
                    created_at timestamp with time zone NOT NULL,
                    started_at timestamp with time zone NULL,
                    finished_at timestamp with time zone NULL,
                    error character varying(500) NULL);

                -- At most one unfinished job of a kind: a second rotation request conflicts in the database itself.
                CREATE UNIQUE INDEX "IX_admin_jobs_kind_unfinished" ON mislata.admin_jobs (kind) WHERE state IN ('queued', 'running');
                CREATE INDEX "IX_tenant_data_keys_master_key_id" ON mislata.tenant_data_keys (master_key_id);
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                DROP INDEX mislata."IX_tenant_data_keys_master_key_id";
                DROP TABLE mislata.admin_jobs;
                DROP TABLE mislata.platform_key_origin;
                DROP TABLE mislata.platform_keys;
                """);
        }
    }
}
