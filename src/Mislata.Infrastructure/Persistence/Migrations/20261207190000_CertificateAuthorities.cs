using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mislata.Infrastructure.Persistence.Migrations
{
    /// <summary>
    /// The X.509 certificate authorities (<see cref="Certificates.CertificateAuthorities"/>): CAs (their key is a row of
    /// <c>mislata.keys</c>, the certificate is public), issued certificates (public: never a private key) and the latest
    /// signed CRL of each CA. Plain SQL outside the EF model, read and written with SQL by the code that owns them.
    /// Additive only.
    /// </summary>
    [DbContext(typeof(MislataDbContext))]
    [Migration("20261207190000_CertificateAuthorities")]
    public partial class CertificateAuthorities : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                CREATE TABLE mislata.certificate_authorities (
                    id uuid NOT NULL PRIMARY KEY,
                    tenant_id uuid NOT NULL REFERENCES mislata.tenants (id) ON DELETE CASCADE,
                    name character varying(220) NOT NULL,
                    algorithm character varying(40) NOT NULL,
                    key_id uuid NOT NULL REFERENCES mislata.keys (id) ON DELETE CASCADE,
                    key_version integer NOT NULL,
                    parent_id uuid NULL REFERENCES mislata.certificate_authorities (id) ON DELETE CASCADE,
                    path_length integer NULL,
                    subject text NOT NULL,
                    subject_der bytea NOT NULL,
                    key_identifier bytea NOT NULL,
                    certificate_der bytea NOT NULL,
                    serial_number character varying(64) NOT NULL,
                    not_before timestamp with time zone NOT NULL,
                    not_after timestamp with time zone NOT NULL,
                    max_validity_days integer NOT NULL,
                    allowed_domains text[] NOT NULL DEFAULT '{}',
                    companion_id uuid NULL,
                    crl_number bigint NOT NULL DEFAULT 0,
                    created_by character varying(200) NOT NULL,
                    created_at timestamp with time zone NOT NULL,
                    CHECK (key_version >= 1),
                    CHECK (path_length IS NULL OR path_length BETWEEN 0 AND 10),
                    CHECK (max_validity_days >= 1));
                CREATE UNIQUE INDEX "IX_certificate_authorities_tenant_name" ON mislata.certificate_authorities (tenant_id, name);
                CREATE INDEX "IX_certificate_authorities_tenant_id" ON mislata.certificate_authorities (tenant_id, id);

                CREATE TABLE mislata.certificates (
                    id uuid NOT NULL PRIMARY KEY,
                    tenant_id uuid NOT NULL REFERENCES mislata.tenants (id) ON DELETE CASCADE,
                    ca_id uuid NOT NULL REFERENCES mislata.certificate_authorities (id) ON DELETE CASCADE,
                    serial_number character varying(64) NOT NULL,
                    subject text NOT NULL,
                    profile character varying(16) NOT NULL,
                    sans text[] NOT NULL DEFAULT '{}',
                    key_algorithm character varying(40) NOT NULL,
                    key_generated boolean NOT NULL,
                    not_before timestamp with time zone NOT NULL,
                    not_after timestamp with time zone NOT NULL,
                    certificate_der bytea NOT NULL,
                    revoked_at timestamp with time zone NULL,
                    revocation_reason character varying(32) NULL,
                    pair_id uuid NULL,
                    created_by character varying(200) NOT NULL,
                    created_at timestamp with time zone NOT NULL,
                    CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL)));
                CREATE UNIQUE INDEX "IX_certificates_ca_serial" ON mislata.certificates (ca_id, serial_number);
                CREATE INDEX "IX_certificates_tenant_id" ON mislata.certificates (tenant_id, id);
                CREATE INDEX "IX_certificates_ca_revoked" ON mislata.certificates (ca_id) WHERE revoked_at IS NOT NULL;

                CREATE TABLE mislata.certificate_crls (
                    ca_id uuid NOT NULL PRIMARY KEY REFERENCES mislata.certificate_authorities (id) ON DELETE CASCADE,
                    tenant_id uuid NOT NULL REFERENCES mislata.tenants (id) ON DELETE CASCADE,
                    crl_number bigint NOT NULL,
                    this_update timestamp with time zone NOT NULL,
                    next_update timestamp with time zone NOT NULL,
                    crl_der bytea NOT NULL);
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                DROP TABLE mislata.certificate_crls;
                DROP TABLE mislata.certificates;
                DROP TABLE mislata.certificate_authorities;
                """);
        }
    }
}
