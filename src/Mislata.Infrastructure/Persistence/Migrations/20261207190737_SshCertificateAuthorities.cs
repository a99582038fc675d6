using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mislata.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class SshCertificateAuthorities : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "ssh_cas",
                schema: "mislata",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    algorithm = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    key_id = table.Column<Guid>(type: "uuid", nullable: false),
                    max_user_validity_seconds = table.Column<long>(type: "bigint", nullable: false),
                    max_host_validity_seconds = table.Column<long>(type: "bigint", nullable: false),
                    allowed_principals = table.Column<List<string>>(type: "text[]", nullable: false),
                    created_by = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_ssh_cas", x => x.id);
                    table.CheckConstraint("ck_ssh_cas_validity", "max_user_validity_seconds > 0 AND max_host_validity_seconds > 0");
                    table.ForeignKey(
                        name: "FK_ssh_cas_keys_key_id",
                        column: x => x.key_id,
                        principalSchema: "mislata",
                        principalTable: "keys",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "FK_ssh_cas_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalSchema: "mislata",
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "ssh_certificates",
                schema: "mislata",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    ca_id = table.Column<Guid>(type: "uuid", nullable: false),
                    serial = table.Column<long>(type: "bigint", nullable: false),
                    type = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    key_identifier = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    principals = table.Column<List<string>>(type: "text[]", nullable: false),
                    valid_after = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    valid_before = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    subject_key_type = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    subject_fingerprint = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    critical_options = table.Column<List<string>>(type: "text[]", nullable: false),
                    extensions = table.Column<List<string>>(type: "text[]", nullable: false),
                    ca_fingerprint = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    key_version = table.Column<int>(type: "integer", nullable: false),
                    issued_by = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    issued_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_ssh_certificates", x => x.id);
                    table.CheckConstraint("ck_ssh_certificates_window", "valid_before > valid_after AND serial > 0");
                    table.ForeignKey(
                        name: "FK_ssh_certificates_ssh_cas_ca_id",
                        column: x => x.ca_id,
                        principalSchema: "mislata",
                        principalTable: "ssh_cas",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "FK_ssh_certificates_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalSchema: "mislata",
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_ssh_cas_key_id",
                schema: "mislata",
                table: "ssh_cas",
                column: "key_id",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_ssh_cas_tenant_id_name",
                schema: "mislata",
                table: "ssh_cas",
                columns: new[] { "tenant_id", "name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_ssh_certificates_ca_id_serial",
                schema: "mislata",
                table: "ssh_certificates",
                columns: new[] { "ca_id", "serial" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_ssh_certificates_tenant_id_id",
                schema: "mislata",
                table: "ssh_certificates",
                columns: new[] { "tenant_id", "id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "ssh_certificates",
                schema: "mislata");

            migrationBuilder.DropTable(
                name: "ssh_cas",
                schema: "mislata");
        }
    }
}
