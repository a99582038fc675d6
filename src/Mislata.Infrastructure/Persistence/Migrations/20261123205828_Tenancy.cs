using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mislata.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class Tenancy : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "partners",
                schema: "mislata",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    contact_email = table.Column<string>(type: "character varying(254)", maxLength: 254, nullable: true),
                    max_tenants = table.Column<int>(type: "integer", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_partners", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "plans",
                schema: "mislata",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    code = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    max_keys = table.Column<int>(type: "integer", nullable: true),
                    max_secrets = table.Column<int>(type: "integer", nullable: true),
                    max_api_keys = table.Column<int>(type: "integer", nullable: true),
                    max_users = table.Column<int>(type: "integer", nullable: true),
                    operations_per_month = table.Column<long>(type: "bigint", nullable: true),
                    requests_per_minute = table.Column<int>(type: "integer", nullable: true),
                    features = table.Column<List<string>>(type: "text[]", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_plans", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "tenants",
                schema: "mislata",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    plan_id = table.Column<Guid>(type: "uuid", nullable: false),
                    partner_id = table.Column<Guid>(type: "uuid", nullable: true),
                    admin_email = table.Column<string>(type: "character varying(254)", maxLength: 254, nullable: true),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    suspended_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_tenants", x => x.id);
                    table.ForeignKey(
                        name: "FK_tenants_partners_partner_id",
                        column: x => x.partner_id,
                        principalSchema: "mislata",
                        principalTable: "partners",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "FK_tenants_plans_plan_id",
                        column: x => x.plan_id,
                        principalSchema: "mislata",
                        principalTable: "plans",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "api_keys",
                schema: "mislata",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: true),
                    partner_id = table.Column<Guid>(type: "uuid", nullable: true),
                    name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    prefix = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    hash = table.Column<byte[]>(type: "bytea", nullable: false),
                    scopes = table.Column<List<string>>(type: "text[]", nullable: false),
                    expires_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    ip_allowlist = table.Column<List<string>>(type: "text[]", nullable: false),
                    rate_limit_per_minute = table.Column<int>(type: "integer", nullable: true),
                    created_by = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    revoked_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_api_keys", x => x.id);
                    table.CheckConstraint("ck_api_keys_owner", "(tenant_id IS NULL) <> (partner_id IS NULL)");
                    table.ForeignKey(
                        name: "FK_api_keys_partners_partner_id",
                        column: x => x.partner_id,
                        principalSchema: "mislata",
                        principalTable: "partners",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "FK_api_keys_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalSchema: "mislata",
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "tenant_data_keys",
                schema: "mislata",
                columns: table => new
                {
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    dek_version = table.Column<int>(type: "integer", nullable: false),
                    wrapped_key = table.Column<byte[]>(type: "bytea", nullable: false),
                    master_key_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_tenant_data_keys", x => new { x.tenant_id, x.dek_version });
                    table.ForeignKey(
                        name: "FK_tenant_data_keys_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalSchema: "mislata",
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_api_keys_hash",
                schema: "mislata",
                table: "api_keys",
                column: "hash",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_api_keys_partner_id_id",
                schema: "mislata",
                table: "api_keys",
                columns: new[] { "partner_id", "id" });

            migrationBuilder.CreateIndex(
                name: "IX_api_keys_tenant_id_id",
                schema: "mislata",
                table: "api_keys",
                columns: new[] { "tenant_id", "id" });

            migrationBuilder.CreateIndex(
                name: "IX_partners_name",
                schema: "mislata",
                table: "partners",
                column: "name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_plans_code",
                schema: "mislata",
                table: "plans",
                column: "code",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_tenants_name",
                schema: "mislata",
                table: "tenants",
                column: "name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_tenants_partner_id",
                schema: "mislata",
                table: "tenants",
                column: "partner_id");

            migrationBuilder.CreateIndex(
                name: "IX_tenants_plan_id",
                schema: "mislata",
                table: "tenants",
                column: "plan_id");

            // The seeded plans (PRODUCT.md "Tenancy"); operators edit them or add others through /admin/plans.
            migrationBuilder.Sql("""
                INSERT INTO mislata.plans (id, code, name, max_keys, max_secrets, max_api_keys, max_users, operations_per_month, requests_per_minute, features, created_at, updated_at) VALUES
                ('0195a1c0-0000-7000-8000-000000000001', 'community', 'Community', 25, 100, 10, 5, 100000, 600, ARRAY[]::text[], '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
                ('0195a1c0-0000-7000-8000-000000000002', 'business', 'Business', 500, 5000, 100, 100, 10000000, 6000, ARRAY['byok','audit-export'], '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'),
                ('0195a1c0-0000-7000-8000-000000000003', 'enterprise', 'Enterprise', NULL, NULL, NULL, NULL, NULL, 60000, ARRAY['byok','audit-export','sso','partner-management'], '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')
                ON CONFLICT (id) DO NOTHING;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "api_keys",
                schema: "mislata");

            migrationBuilder.DropTable(
                name: "tenant_data_keys",
                schema: "mislata");

            migrationBuilder.DropTable(
                name: "tenants",
                schema: "mislata");

            migrationBuilder.DropTable(
                name: "partners",
                schema: "mislata");

            migrationBuilder.DropTable(
                name: "plans",
                schema: "mislata");
        }
    }
}
