using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace WbcPortal.Storage.Migrations
{
    /// <inheritdoc />
    public partial class CrossValidations : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "CrossValidationId",
                table: "runs",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "Fold",
                table: "runs",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "cross_validations",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    SourceSplitId = table.Column<int>(type: "INTEGER", nullable: false),
                    Folds = table.Column<int>(type: "INTEGER", nullable: false),
                    Seed = table.Column<int>(type: "INTEGER", nullable: false),
                    ConfigJson = table.Column<string>(type: "TEXT", nullable: false),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_cross_validations", x => x.Id);
                    table.ForeignKey(
                        name: "FK_cross_validations_splits_SourceSplitId",
                        column: x => x.SourceSplitId,
                        principalTable: "splits",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_runs_CrossValidationId_Fold",
                table: "runs",
                columns: new[] { "CrossValidationId", "Fold" });

            migrationBuilder.CreateIndex(
                name: "IX_cross_validations_Name",
                table: "cross_validations",
                column: "Name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_cross_validations_SourceSplitId",
                table: "cross_validations",
                column: "SourceSplitId");

            // No foreign-key constraint on runs.CrossValidationId: SQLite can add one only by rebuilding the runs table with
            // PRAGMA foreign_keys off, outside the migration's transaction (a crash there could lose the table). The index
            // above serves the joins; the portal keeps the link itself.
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {

            migrationBuilder.DropTable(
                name: "cross_validations");

            migrationBuilder.DropIndex(
                name: "IX_runs_CrossValidationId_Fold",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "CrossValidationId",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "Fold",
                table: "runs");
        }
    }
}
