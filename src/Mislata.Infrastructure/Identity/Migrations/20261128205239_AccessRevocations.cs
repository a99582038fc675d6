using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Mislata.Infrastructure.Identity.Migrations
{
    /// <inheritdoc />
    public partial class AccessRevocations : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "access_revocations",
                schema: "identity",
                columns: table => new
                {
                    kind = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    value = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    not_before = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    expires_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_access_revocations", x => new { x.kind, x.value });
                });

            migrationBuilder.CreateIndex(
                name: "IX_access_revocations_expires_at",
                schema: "identity",
                table: "access_revocations",
                column: "expires_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "access_revocations",
                schema: "identity");
        }
    }
}
