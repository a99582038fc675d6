using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mislata.Infrastructure.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class UsagePeriods : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "usage_periods",
                schema: "mislata",
                columns: table => new
                {
                    tenant_id = table.Column<Guid>(type: "uuid", nullable: false),
                    period_start = table.Column<DateOnly>(type: "date", nullable: false),
                    operations = table.Column<long>(type: "bigint", nullable: false),
                    rolled_up_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_usage_periods", x => new { x.tenant_id, x.period_start });
                    table.ForeignKey(
                        name: "FK_usage_periods_tenants_tenant_id",
                        column: x => x.tenant_id,
                        principalSchema: "mislata",
                        principalTable: "tenants",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "usage_periods",
                schema: "mislata");
        }
    }
}
