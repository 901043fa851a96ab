using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace WbcPortal.Storage.Migrations
{
    /// <inheritdoc />
    public partial class RunNotesAndDeletedFolds : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "Notes",
                table: "runs",
                type: "TEXT",
                maxLength: 4000,
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "CrossValidationId",
                table: "label_issue_runs",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "DeletedFoldsJson",
                table: "cross_validations",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "Notes",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "CrossValidationId",
                table: "label_issue_runs");

            migrationBuilder.DropColumn(
                name: "DeletedFoldsJson",
                table: "cross_validations");
        }
    }
}
