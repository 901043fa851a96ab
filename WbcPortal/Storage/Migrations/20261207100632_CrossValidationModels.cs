using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace WbcPortal.Storage.Migrations
{
    /// <inheritdoc />
    public partial class CrossValidationModels : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "CrossValidationId",
                table: "models",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "ReportJson",
                table: "models",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "ReportSource",
                table: "models",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "CrossValidationId",
                table: "models");

            migrationBuilder.DropColumn(
                name: "ReportJson",
                table: "models");

            migrationBuilder.DropColumn(
                name: "ReportSource",
                table: "models");
        }
    }
}
