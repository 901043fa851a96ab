using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace WbcPortal.Storage.Migrations
{
    /// <inheritdoc />
    public partial class Evaluations : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<double>(
                name: "Temperature",
                table: "runs",
                type: "REAL",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "CreatedAt",
                table: "run_evaluations",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "Ece",
                table: "run_evaluations",
                type: "REAL",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "EceUncalibrated",
                table: "run_evaluations",
                type: "REAL",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "ReportJson",
                table: "run_evaluations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "Source",
                table: "run_evaluations",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "run_predictions",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    EvaluationId = table.Column<int>(type: "INTEGER", nullable: false),
                    DatasetImageId = table.Column<int>(type: "INTEGER", nullable: true),
                    Sha256 = table.Column<string>(type: "TEXT", nullable: true),
                    File = table.Column<string>(type: "TEXT", nullable: true),
                    Label = table.Column<int>(type: "INTEGER", nullable: false),
                    Predicted = table.Column<int>(type: "INTEGER", nullable: false),
                    Confidence = table.Column<double>(type: "REAL", nullable: false),
                    LogitsJson = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_run_predictions", x => x.Id);
                    table.ForeignKey(
                        name: "FK_run_predictions_run_evaluations_EvaluationId",
                        column: x => x.EvaluationId,
                        principalTable: "run_evaluations",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_run_predictions_EvaluationId_Label_Predicted",
                table: "run_predictions",
                columns: new[] { "EvaluationId", "Label", "Predicted" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "run_predictions");

            migrationBuilder.DropColumn(
                name: "Temperature",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "CreatedAt",
                table: "run_evaluations");

            migrationBuilder.DropColumn(
                name: "Ece",
                table: "run_evaluations");

            migrationBuilder.DropColumn(
                name: "EceUncalibrated",
                table: "run_evaluations");

            migrationBuilder.DropColumn(
                name: "ReportJson",
                table: "run_evaluations");

            migrationBuilder.DropColumn(
                name: "Source",
                table: "run_evaluations");
        }
    }
}
