using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using WbcPortal.Storage.Entities;

namespace WbcPortal.Storage;

/// <summary>
/// The portal's database. This type carries the SQLite migrations (<c>Storage/Migrations</c>);
/// <see cref="PostgresWbcDbContext"/>, the same model, carries PostgreSQL's (<c>Storage/Migrations/PostgreSql</c>).
/// </summary>
public class WbcDbContext : IdentityDbContext<PortalUser>
{
    public WbcDbContext(DbContextOptions<WbcDbContext> options) : base(options)
    {
    }

    /// <summary>For a provider's own context type (its own migration set, the same model).</summary>
    protected WbcDbContext(DbContextOptions options) : base(options)
    {
    }

    public DbSet<ApiToken> ApiTokens => Set<ApiToken>();
    public DbSet<AuditEntry> AuditEntries => Set<AuditEntry>();
    public DbSet<RegisteredModel> Models => Set<RegisteredModel>();
    public DbSet<Dataset> Datasets => Set<Dataset>();
    public DbSet<StoredImage> StoredImages => Set<StoredImage>();
    public DbSet<DatasetImage> DatasetImages => Set<DatasetImage>();
    public DbSet<ImportRecord> Imports => Set<ImportRecord>();
    public DbSet<ImportOutcomeRow> ImportOutcomes => Set<ImportOutcomeRow>();
    public DbSet<NearDuplicateEdge> NearDuplicateEdges => Set<NearDuplicateEdge>();
    public DbSet<Split> Splits => Set<Split>();
    public DbSet<SplitMember> SplitMembers => Set<SplitMember>();
    public DbSet<Run> Runs => Set<Run>();
    public DbSet<RunEpoch> RunEpochs => Set<RunEpoch>();
    public DbSet<CrossValidation> CrossValidations => Set<CrossValidation>();
    public DbSet<RunEvaluation> RunEvaluations => Set<RunEvaluation>();
    public DbSet<RunPrediction> RunPredictions => Set<RunPrediction>();
    public DbSet<ReviewDecision> ReviewDecisions => Set<ReviewDecision>();
    public DbSet<LabelIssueRun> LabelIssueRuns => Set<LabelIssueRun>();
    public DbSet<JobRecord> Jobs => Set<JobRecord>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        // Identity's tables, named as ours are.
        modelBuilder.Entity<PortalUser>().ToTable("users");
        modelBuilder.Entity<IdentityRole>().ToTable("roles");
        modelBuilder.Entity<IdentityUserRole<string>>().ToTable("user_roles");
        modelBuilder.Entity<IdentityUserClaim<string>>().ToTable("user_claims");
        modelBuilder.Entity<IdentityUserLogin<string>>().ToTable("user_logins");
        modelBuilder.Entity<IdentityUserToken<string>>().ToTable("user_tokens");
        modelBuilder.Entity<IdentityRoleClaim<string>>().ToTable("role_claims");
        modelBuilder.Entity<ApiToken>(e =>
        {
            e.ToTable("api_tokens");
            e.Property(t => t.Name).HasMaxLength(100);
            e.Property(t => t.Prefix).HasMaxLength(16);
            e.Property(t => t.Hash).HasMaxLength(64);
            e.HasIndex(t => t.Hash).IsUnique();
            e.Property(t => t.Role).HasMaxLength(16);
            e.HasOne<PortalUser>().WithMany().HasForeignKey(t => t.UserId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<JobRecord>(e =>
        {
            e.ToTable("jobs");
            e.Property(j => j.Kind).HasConversion<string>().HasMaxLength(32);
            e.Property(j => j.State).HasConversion<string>().HasMaxLength(16);
            e.Property(j => j.Subject).HasMaxLength(300);
            e.Property(j => j.Description).HasMaxLength(500);
            e.Property(j => j.ProgressText).HasMaxLength(500);
            e.Property(j => j.Error).HasMaxLength(4000);
            e.Property(j => j.CancelledNote).HasMaxLength(500);
            e.Property(j => j.InputFolder).HasMaxLength(1000);
            e.Property(j => j.ActorJson).HasMaxLength(1000);
            e.Property(j => j.Node).HasMaxLength(200);
            e.HasIndex(j => j.UpdatedAt);
            e.HasIndex(j => new { j.State, j.QueuedAt });
        });
        modelBuilder.Entity<AuditEntry>(e =>
        {
            e.ToTable("audit_entries");
            e.Property(a => a.Actor).HasMaxLength(300);
            e.Property(a => a.Action).HasMaxLength(64);
            e.Property(a => a.Target).HasMaxLength(500);
            e.Property(a => a.Detail).HasMaxLength(2000);
            e.Property(a => a.RemoteAddress).HasMaxLength(64);
            e.HasIndex(a => a.At);
            e.HasIndex(a => new { a.Action, a.At });
        });
        modelBuilder.Entity<RegisteredModel>(e =>
        {
            e.ToTable("models");
            e.Property(m => m.Name).HasMaxLength(200);
            e.HasIndex(m => m.Name).IsUnique();
            e.Property(m => m.OnnxPath).HasMaxLength(1000);
            e.Property(m => m.Labels).HasMaxLength(2000);
        });
        modelBuilder.Entity<Dataset>(e =>
        {
            e.ToTable("datasets");
            e.Property(d => d.Name).HasMaxLength(200);
            e.HasIndex(d => d.Name).IsUnique();
            e.HasMany(d => d.Images).WithOne().HasForeignKey(i => i.DatasetId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<StoredImage>(e =>
        {
            e.ToTable("stored_images");
            e.HasKey(s => s.Sha256);
            e.Property(s => s.Sha256).HasMaxLength(64);
            e.Property(s => s.Format).HasMaxLength(8);
        });
        modelBuilder.Entity<DatasetImage>(e =>
        {
            e.ToTable("dataset_images");
            e.Property(i => i.ClassName).HasMaxLength(64);
            e.Property(i => i.RelativePath).HasMaxLength(1000);
            e.Property(i => i.FolderPart).HasMaxLength(200);
            e.HasOne(i => i.Stored).WithMany().HasForeignKey(i => i.Sha256).OnDelete(DeleteBehavior.Restrict);
            e.HasIndex(i => new { i.DatasetId, i.ClassName });
            e.HasIndex(i => new { i.DatasetId, i.Sha256 }).IsUnique();
            e.HasIndex(i => new { i.DatasetId, i.SourceGroup });
        });
        modelBuilder.Entity<ImportRecord>(e =>
        {
            e.ToTable("imports");
            e.HasOne<Dataset>().WithMany().HasForeignKey(r => r.DatasetId).OnDelete(DeleteBehavior.Cascade);
            e.HasMany(r => r.Outcomes).WithOne().HasForeignKey(o => o.ImportRecordId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<ImportOutcomeRow>(e => e.ToTable("import_outcomes"));
        modelBuilder.Entity<NearDuplicateEdge>(e =>
        {
            e.ToTable("near_duplicate_edges");
            e.HasOne<Dataset>().WithMany().HasForeignKey(p => p.DatasetId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(p => p.DatasetId);
        });
        modelBuilder.Entity<Split>(e =>
        {
            e.ToTable("splits");
            e.HasOne(s => s.Dataset).WithMany().HasForeignKey(s => s.DatasetId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(s => s.Name).IsUnique();
            e.Property(s => s.Strategy).HasConversion(TypedValueConversions.Strategy);
            e.HasMany(s => s.Members).WithOne().HasForeignKey(m => m.SplitId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<Run>(e =>
        {
            e.ToTable("runs");
            e.Property(r => r.Name).HasMaxLength(200);
            e.HasIndex(r => r.Name).IsUnique();
            e.Property(r => r.Notes).HasMaxLength(Services.Training.RunEdits.MaxNotesLength);
            e.Property(r => r.Status).HasConversion<string>().HasMaxLength(16);
            e.Property(r => r.Device).HasConversion(TypedValueConversions.Device);
            e.HasOne(r => r.Split).WithMany().HasForeignKey(r => r.SplitId).OnDelete(DeleteBehavior.Restrict);
            e.HasMany(r => r.Epochs).WithOne().HasForeignKey(x => x.RunId).OnDelete(DeleteBehavior.Cascade);
            e.HasMany(r => r.Evaluations).WithOne().HasForeignKey(x => x.RunId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(r => new { r.CrossValidationId, r.Fold });
        });
        modelBuilder.Entity<CrossValidation>(e =>
        {
            e.ToTable("cross_validations");
            e.Property(c => c.Name).HasMaxLength(200);
            e.HasIndex(c => c.Name).IsUnique();
            // Deleting the source split (with its dataset) takes the record; its fold runs stay, as plain runs.
            e.HasOne(c => c.SourceSplit).WithMany().HasForeignKey(c => c.SourceSplitId).OnDelete(DeleteBehavior.Cascade);
            e.HasMany(c => c.Runs).WithOne(r => r.CrossValidation).HasForeignKey(r => r.CrossValidationId).OnDelete(DeleteBehavior.SetNull);
        });
        modelBuilder.Entity<RunEpoch>(e =>
        {
            e.ToTable("run_epochs");
            e.HasIndex(x => new { x.RunId, x.Round, x.Epoch }).IsUnique();
        });
        modelBuilder.Entity<RunEvaluation>(e =>
        {
            e.ToTable("run_evaluations");
            e.Property(x => x.Stage).HasConversion(TypedValueConversions.Stage);
            e.Ignore(x => x.Source);
            e.Ignore(x => x.SourceTitle);
            e.Property(x => x.SourceKind).HasConversion(TypedValueConversions.SourceKind).HasMaxLength(8);
            e.Property(x => x.Part).HasConversion(TypedValueConversions.Part);
            e.Property(x => x.SourcePart).HasConversion(TypedValueConversions.Part).HasMaxLength(8);
            e.HasIndex(x => new { x.RunId, x.SourceKind, x.SourceName, x.SourcePart });
            e.HasMany(x => x.Predictions).WithOne().HasForeignKey(p => p.EvaluationId).OnDelete(DeleteBehavior.Cascade);
        });
        modelBuilder.Entity<RunPrediction>(e =>
        {
            e.ToTable("run_predictions");
            e.HasIndex(x => new { x.EvaluationId, x.Label, x.Predicted });
        });
        modelBuilder.Entity<ReviewDecision>(e =>
        {
            e.ToTable("review_decisions");
            e.Property(d => d.Kind).HasConversion<string>().HasMaxLength(16);
            e.Property(d => d.Scope).HasConversion<string>().HasMaxLength(16);
            e.Property(d => d.FromClass).HasMaxLength(100);
            e.Property(d => d.ToClass).HasMaxLength(100);
            e.Property(d => d.Reviewer).HasMaxLength(Engine.Datasets.Curation.LabelDecision.MaxReviewerLength);
            e.Property(d => d.Note).HasMaxLength(Engine.Datasets.Curation.LabelDecision.MaxNoteLength);
            e.HasOne<Dataset>().WithMany().HasForeignKey(d => d.DatasetId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(d => new { d.DatasetId, d.CreatedAt });
        });
        modelBuilder.Entity<LabelIssueRun>(e =>
        {
            e.ToTable("label_issue_runs");
            e.Property(r => r.Mode).HasMaxLength(32);
            e.HasOne<Dataset>().WithMany().HasForeignKey(r => r.DatasetId).OnDelete(DeleteBehavior.Cascade);
            e.HasIndex(r => new { r.DatasetId, r.CreatedAt });
        });
        modelBuilder.Entity<SplitMember>(e =>
        {
            e.ToTable("split_members");
            e.HasKey(m => new { m.SplitId, m.DatasetImageId });
            e.Property(m => m.Part).HasConversion(TypedValueConversions.Part);
            e.HasOne<DatasetImage>().WithMany().HasForeignKey(m => m.DatasetImageId).OnDelete(DeleteBehavior.Cascade);
        });
    }

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // SQLite cannot order or compare DateTimeOffset; store UTC ticks instead.
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToUtcTicksConverter>();
    }
}

internal sealed class DateTimeOffsetToUtcTicksConverter()
    : Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<DateTimeOffset, long>(
        v => v.UtcTicks,
        v => new DateTimeOffset(v, TimeSpan.Zero));
