using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mislata.Infrastructure.Persistence.Migrations
{
    /// <summary>
    /// Payload references (<see cref="Keys.PayloadReferenceStore"/>): ciphertexts a tenant registers with the key that made
    /// them, for the rewrap-all job. Plain SQL outside the EF model, like the admin jobs, which now also run per key
    /// (tenant_id, key_id) with a failure count, the failed references (names only) and a resumable position. Additive
    /// only: the previous release keeps working beside it (rolling upgrade). Each key
    /// version counts its encryptions (coverage); an AES version starts from its invocation count, which counted exactly those.
    /// </summary>
    [DbContext(typeof(MislataDbContext))]
    [Migration("20261207170000_PayloadReferences")]
    public partial class PayloadReferences : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                CREATE TABLE mislata.key_payloads (
                    tenant_id uuid NOT NULL REFERENCES mislata.tenants (id) ON DELETE CASCADE,
                    key_id uuid NOT NULL REFERENCES mislata.keys (id) ON DELETE CASCADE,
                    reference character varying(200) NOT NULL,
                    encrypted_payload text NOT NULL,
                    key_version integer NOT NULL,
                    sealed_context bytea NULL,
                    context_dek_version integer NULL,
                    registered_at timestamp with time zone NOT NULL,
                    updated_at timestamp with time zone NOT NULL,
                    PRIMARY KEY (tenant_id, key_id, reference),
                    CHECK ((sealed_context IS NULL) = (context_dek_version IS NULL)));
                CREATE INDEX "IX_key_payloads_key_version" ON mislata.key_payloads (key_id, key_version);

                ALTER TABLE mislata.key_versions ADD COLUMN encryption_count bigint NOT NULL DEFAULT 0;
                UPDATE mislata.key_versions v SET encryption_count = v.invocation_count
                    FROM mislata.keys k WHERE k.id = v.key_id AND k.algorithm = 'AES-256-GCM';

                ALTER TABLE mislata.admin_jobs
                    ADD COLUMN tenant_id uuid NULL REFERENCES mislata.tenants (id) ON DELETE CASCADE,
                    ADD COLUMN key_id uuid NULL REFERENCES mislata.keys (id) ON DELETE CASCADE,
                    ADD COLUMN failed integer NOT NULL DEFAULT 0,
                    ADD COLUMN failed_references text[] NOT NULL DEFAULT '{}',
                    ADD COLUMN position character varying(200) NULL,
                    ADD CONSTRAINT ck_admin_jobs_key_tenant CHECK ((tenant_id IS NULL) = (key_id IS NULL));

                -- A key's job is stored as kind '{kind}:{keyId}': the existing unique index of unfinished jobs per kind then
                -- allows one per key, and is left as it is, so the previous release queues its jobs beside this one.
                CREATE INDEX "IX_admin_jobs_key" ON mislata.admin_jobs (tenant_id, key_id);
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                DELETE FROM mislata.admin_jobs WHERE key_id IS NOT NULL;
                DROP INDEX mislata."IX_admin_jobs_key";
                ALTER TABLE mislata.admin_jobs DROP CONSTRAINT ck_admin_jobs_key_tenant, DROP COLUMN position, DROP COLUMN failed_references,
                    DROP COLUMN failed, DROP COLUMN key_id, DROP COLUMN tenant_id;
                ALTER TABLE mislata.key_versions DROP COLUMN encryption_count;
                DROP TABLE mislata.key_payloads;
                """);
        }
    }
}
