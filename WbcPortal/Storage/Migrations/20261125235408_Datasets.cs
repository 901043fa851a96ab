using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace WbcPortal.Storage.Migrations
{
    /// <inheritdoc />
    public partial class Datasets : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "datasets",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    GroupedAt = table.Column<long>(type: "INTEGER", nullable: true),
                    GroupCount = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_datasets", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "stored_images",
                columns: table => new
                {
                    Sha256 = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Format = table.Column<string>(type: "TEXT", maxLength: 8, nullable: false),
                    Width = table.Column<int>(type: "INTEGER", nullable: false),
                    Height = table.Column<int>(type: "INTEGER", nullable: false),
                    Bytes = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_stored_images", x => x.Sha256);
                });

            migrationBuilder.CreateTable(
                name: "imports",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    DatasetId = table.Column<int>(type: "INTEGER", nullable: false),
                    Source = table.Column<string>(type: "TEXT", nullable: false),
                    At = table.Column<long>(type: "INTEGER", nullable: false),
                    Accepted = table.Column<int>(type: "INTEGER", nullable: false),
                    Rejected = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_imports", x => x.Id);
                    table.ForeignKey(
                        name: "FK_imports_datasets_DatasetId",
                        column: x => x.DatasetId,
                        principalTable: "datasets",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "near_duplicate_edges",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    DatasetId = table.Column<int>(type: "INTEGER", nullable: false),
                    ImageA = table.Column<int>(type: "INTEGER", nullable: false),
                    ImageB = table.Column<int>(type: "INTEGER", nullable: false),
                    Similarity = table.Column<double>(type: "REAL", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_near_duplicate_edges", x => x.Id);
                    table.ForeignKey(
                        name: "FK_near_duplicate_edges_datasets_DatasetId",
                        column: x => x.DatasetId,
                        principalTable: "datasets",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "splits",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    DatasetId = table.Column<int>(type: "INTEGER", nullable: false),
                    Name = table.Column<string>(type: "TEXT", nullable: false),
                    Strategy = table.Column<string>(type: "TEXT", nullable: false),
                    Ratios = table.Column<string>(type: "TEXT", nullable: false),
                    Seed = table.Column<int>(type: "INTEGER", nullable: false),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    ReportJson = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_splits", x => x.Id);
                    table.ForeignKey(
                        name: "FK_splits_datasets_DatasetId",
                        column: x => x.DatasetId,
                        principalTable: "datasets",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "dataset_images",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    DatasetId = table.Column<int>(type: "INTEGER", nullable: false),
                    ClassName = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    RelativePath = table.Column<string>(type: "TEXT", maxLength: 1000, nullable: false),
                    FolderPart = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    Sha256 = table.Column<string>(type: "TEXT", nullable: false),
                    SourceGroup = table.Column<int>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_dataset_images", x => x.Id);
                    table.ForeignKey(
                        name: "FK_dataset_images_datasets_DatasetId",
                        column: x => x.DatasetId,
                        principalTable: "datasets",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "FK_dataset_images_stored_images_Sha256",
                        column: x => x.Sha256,
                        principalTable: "stored_images",
                        principalColumn: "Sha256",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "import_outcomes",
                columns: table => new
                {
                    Id = table.Column<int>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    ImportRecordId = table.Column<int>(type: "INTEGER", nullable: false),
                    RelativePath = table.Column<string>(type: "TEXT", nullable: false),
                    Reason = table.Column<string>(type: "TEXT", nullable: false),
                    Message = table.Column<string>(type: "TEXT", nullable: false),
                    ClassName = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_import_outcomes", x => x.Id);
                    table.ForeignKey(
                        name: "FK_import_outcomes_imports_ImportRecordId",
                        column: x => x.ImportRecordId,
                        principalTable: "imports",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "split_members",
                columns: table => new
                {
                    SplitId = table.Column<int>(type: "INTEGER", nullable: false),
                    DatasetImageId = table.Column<int>(type: "INTEGER", nullable: false),
                    Part = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_split_members", x => new { x.SplitId, x.DatasetImageId });
                    table.ForeignKey(
                        name: "FK_split_members_dataset_images_DatasetImageId",
                        column: x => x.DatasetImageId,
                        principalTable: "dataset_images",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                    table.ForeignKey(
                        name: "FK_split_members_splits_SplitId",
                        column: x => x.SplitId,
                        principalTable: "splits",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_dataset_images_DatasetId_ClassName",
                table: "dataset_images",
                columns: new[] { "DatasetId", "ClassName" });

            migrationBuilder.CreateIndex(
                name: "IX_dataset_images_DatasetId_Sha256",
                table: "dataset_images",
                columns: new[] { "DatasetId", "Sha256" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_dataset_images_DatasetId_SourceGroup",
                table: "dataset_images",
                columns: new[] { "DatasetId", "SourceGroup" });

            migrationBuilder.CreateIndex(
                name: "IX_dataset_images_Sha256",
                table: "dataset_images",
                column: "Sha256");

            migrationBuilder.CreateIndex(
                name: "IX_datasets_Name",
                table: "datasets",
                column: "Name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_import_outcomes_ImportRecordId",
                table: "import_outcomes",
                column: "ImportRecordId");

            migrationBuilder.CreateIndex(
                name: "IX_imports_DatasetId",
                table: "imports",
                column: "DatasetId");

            migrationBuilder.CreateIndex(
                name: "IX_near_duplicate_edges_DatasetId",
                table: "near_duplicate_edges",
                column: "DatasetId");

            migrationBuilder.CreateIndex(
                name: "IX_split_members_DatasetImageId",
                table: "split_members",
                column: "DatasetImageId");

            migrationBuilder.CreateIndex(
                name: "IX_splits_DatasetId",
                table: "splits",
                column: "DatasetId");

            migrationBuilder.CreateIndex(
                name: "IX_splits_Name",
                table: "splits",
                column: "Name",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "import_outcomes");

            migrationBuilder.DropTable(
                name: "near_duplicate_edges");

            migrationBuilder.DropTable(
                name: "split_members");

            migrationBuilder.DropTable(
                name: "imports");

            migrationBuilder.DropTable(
                name: "dataset_images");

            migrationBuilder.DropTable(
                name: "splits");

            migrationBuilder.DropTable(
                name: "stored_images");

            migrationBuilder.DropTable(
                name: "datasets");
        }
    }
}
