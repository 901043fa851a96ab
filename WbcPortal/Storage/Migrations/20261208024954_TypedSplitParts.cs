using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace WbcPortal.Storage.Migrations
{
    /// <inheritdoc />
    public partial class TypedSplitParts : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterColumn<string>(
                name: "Part",
                table: "run_evaluations",
                type: "TEXT",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "TEXT");

            // A folder or zip evaluation has no part: the old "folder" becomes NULL (same SQL on both engines).
            migrationBuilder.Sql(TypedSplitPartsSql.Up());
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            // "folder" back where there is no part, before the column is NOT NULL again.
            migrationBuilder.Sql(TypedSplitPartsSql.Down());

            migrationBuilder.AlterColumn<string>(
                name: "Part",
                table: "run_evaluations",
                type: "TEXT",
                nullable: false,
                defaultValue: "",
                oldClrType: typeof(string),
                oldType: "TEXT",
                oldNullable: true);
        }
    }
}
