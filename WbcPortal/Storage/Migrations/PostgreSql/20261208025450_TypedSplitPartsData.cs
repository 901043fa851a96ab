using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace WbcPortal.Storage.Migrations.PostgreSql
{
    /// <summary>The data of the typed split parts (<see cref="TypedSplitPartsSql"/>), after <c>TypedSplitParts</c> made the column nullable:
    /// a migration of its own, because SQLite rebuilds a table only at the end of the migration that alters it.</summary>
    public partial class TypedSplitPartsData : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // A folder or zip evaluation has no part: the old "folder" becomes NULL (same SQL on both engines).
            migrationBuilder.Sql(TypedSplitPartsSql.Up());
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            // "folder" back where there is no part, before TypedSplitParts makes the column NOT NULL again.
            migrationBuilder.Sql(TypedSplitPartsSql.Down());
        }
    }
}
