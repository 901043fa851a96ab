using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace WbcPortal.Storage.Migrations
{
    /// <inheritdoc />
    public partial class TypedEvaluationSources : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_run_evaluations_RunId",
                table: "run_evaluations");

            migrationBuilder.RenameColumn(
                name: "Source",
                table: "run_evaluations",
                newName: "SourceName");

            migrationBuilder.AddColumn<bool>(
                name: "SourceFlips",
                table: "run_evaluations",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "SourceKind",
                table: "run_evaluations",
                type: "TEXT",
                maxLength: 8,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "SourcePart",
                table: "run_evaluations",
                type: "TEXT",
                maxLength: 8,
                nullable: true);

            // The old formatted source, now in SourceName, taken apart into the typed columns (same SQL on both engines).
            foreach (var sql in TypedEvaluationSourcesSql.Up()) migrationBuilder.Sql(sql);

            migrationBuilder.CreateIndex(
                name: "IX_run_evaluations_RunId_SourceKind_SourceName_SourcePart",
                table: "run_evaluations",
                columns: new[] { "RunId", "SourceKind", "SourceName", "SourcePart" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql(TypedEvaluationSourcesSql.Down());

            migrationBuilder.DropIndex(
                name: "IX_run_evaluations_RunId_SourceKind_SourceName_SourcePart",
                table: "run_evaluations");

            migrationBuilder.DropColumn(
                name: "SourceFlips",
                table: "run_evaluations");

            migrationBuilder.DropColumn(
                name: "SourceKind",
                table: "run_evaluations");

            migrationBuilder.DropColumn(
                name: "SourcePart",
                table: "run_evaluations");

            migrationBuilder.RenameColumn(
                name: "SourceName",
                table: "run_evaluations",
                newName: "Source");

            migrationBuilder.CreateIndex(
                name: "IX_run_evaluations_RunId",
                table: "run_evaluations",
                column: "RunId");
        }
    }
}
