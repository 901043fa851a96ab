using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace WbcPortal.Storage.Migrations
{
    /// <inheritdoc />
    public partial class PredictionOriginals : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "Original",
                table: "run_predictions",
                type: "INTEGER",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "Original",
                table: "run_predictions");
        }
    }
}
