using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using WbcPortal.Engine.Benchmarks;
using WbcPortal.Engine.Compute;
using WbcPortal.Engine.Datasets.Import;
using WbcPortal.Engine.Datasets.Storage;
using WbcPortal.Engine.Imaging;
using WbcPortal.Services.Datasets;
using WbcPortal.Services.Grouping;
using WbcPortal.Services.Splits;
using WbcPortal.Services.Training;
using WbcPortal.Engine.Training;
using WbcPortal.Engine.Models.Onnx;
using WbcPortal.Engine.Datasets.Grouping;
using WbcPortal.Engine.Datasets.Splitting;
using WbcPortal.Services.Exploration;
using WbcPortal.Engine.Inference;
using WbcPortal.Engine.Models.Backbones;
using WbcPortal.Options;
using WbcPortal.Services;
using WbcPortal.Storage;

namespace WbcPortal.Extensions;

/// <summary>The services both the web host and the headless verbs use.</summary>
public static class CoreServiceExtensions
{
    public static IServiceCollection AddWbcCore(this IServiceCollection services)
    {
        services.AddOptions<StorageOptions>().BindConfiguration(StorageOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.Provider != StorageProvider.PostgreSql || !string.IsNullOrWhiteSpace(o.ConnectionString),
                "Storage:Provider PostgreSql needs Storage:ConnectionString (Host=…;Database=…;Username=…;Password=…).")
            .ValidateOnStart();
        services.AddOptions<ComputeOptions>().BindConfiguration(ComputeOptions.Section)
            .Validate(o => o.Device is "auto" or "cpu" or "cuda", "Compute:Device must be auto, cpu or cuda.")
            .Validate(o => o.TorchThreads >= 0 && o.OnnxThreads >= 0, "Compute thread counts must be 0 (all cores) or more.")
            .ValidateOnStart();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<StorageOptions>>().Value);
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<ComputeOptions>>().Value);

        // One factory for the configured provider (Storage:Provider); Identity's stores take a context of their own scope from it.
        services.AddSingleton<IDbContextFactory<WbcDbContext>, WbcDbContextFactory>();
        services.AddScoped(sp => sp.GetRequiredService<IDbContextFactory<WbcDbContext>>().CreateDbContext());
        services.AddSingleton<DatabaseMigrator>();
        services.AddSingleton<DatabaseChanges>();
        services.AddAccounts();
        services.AddSingleton<DataFolderSpace>();
        services.AddSingleton<DataFolderStartup>();
        services.AddSingleton<Services.Storage.BackupService>();

        services.AddSingleton<TorchRuntime>();
        services.AddSingleton<OnnxSessionFactory>();
        services.AddSingleton(PretrainedModelFiles.Default);
        services.AddSingleton<ResNet18Backbone>();
        services.AddSingleton<IBackboneFactory>(sp => sp.GetRequiredService<ResNet18Backbone>());
        services.AddSingleton<BackboneRegistry>();

        services.AddSingleton<SystemStatusService>();

        services.AddOptions<ImportOptions>().BindConfiguration(ImportOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.MaxStagingBytes >= o.MaxUploadBytes, "Import:MaxStagingBytes must be at least Import:MaxUploadBytes (one upload must fit in the staging space).")
            .ValidateOnStart();
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<ImportOptions>>().Value;
            return new ImageLimits(o.MaxFileBytes, o.MaxWidth, o.MaxHeight, o.MaxPixels);
        });
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<ImportOptions>>().Value;
            return new ImportLimits { MaxFiles = o.MaxFiles, CommitBatchSize = o.CommitBatchSize };
        });
        services.AddOptions<ImagingOptions>().BindConfiguration(ImagingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        // One decode budget for the whole process: every decoder call reserves from it (see DecodeBudget).
        services.AddSingleton(sp =>
        {
            var o = sp.GetRequiredService<IOptions<ImagingOptions>>().Value;
            return new DecodeBudget(o.DecodeBudgetMegabytes * 1024L * 1024, TimeSpan.FromSeconds(o.RequestWaitSeconds));
        });
        services.AddSingleton(sp => new ImageDecoding(sp.GetRequiredService<ImageLimits>(), sp.GetRequiredService<DecodeBudget>()));
        services.AddSingleton<ImageImporter>();
        services.AddSingleton(sp =>
        {
            var storage = sp.GetRequiredService<StorageOptions>();
            return new ImageStore(storage.DataDirectoryFullPath, storage.SharedByNodes ? DataFolderLayout.NodeFolderName(ProcessIdentity.Current) : null);
        });
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<DatasetService>();
        services.AddSingleton<UploadStaging>();
        services.AddSingleton<Services.Storage.DataFolderInventory>();
        services.AddSingleton(GroupingOptions.Default);
        services.AddSingleton<SourceGrouper>();
        services.AddSingleton<GroupingService>();
        services.AddSingleton<DatasetSplitter>();
        services.AddSingleton<SplitService>();
        services.AddSingleton<Trainer>();
        services.AddSingleton(sp => new ClassifierOnnxExporter(sp.GetRequiredService<PretrainedModelFiles>(), sp.GetRequiredService<BackboneRegistry>()));
        services.AddSingleton<RunChanges>();
        services.AddSingleton<RunProgress>();
        services.AddSingleton<Services.Evaluation.EvaluationService>();
        services.AddSingleton<Services.Evaluation.EvaluationZipUnpacker>();
        services.AddSingleton<Services.Evaluation.ModelCalibrationService>();
        services.AddOptions<InferenceOptions>().BindConfiguration(InferenceOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ServerFoldersOptions>().BindConfiguration(ServerFoldersOptions.Section);
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<ServerFoldersOptions>>().Value);
        services.AddSingleton<Services.Storage.ServerFolders>();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<InferenceOptions>>().Value);
        services.AddSingleton<Services.Classify.ModelServing>();
        services.AddSingleton<Services.Classify.PredictionService>();
        services.AddSingleton(sp => new ClassifierOnnxValidator(sp.GetRequiredService<OnnxSessionFactory>(), sp.GetRequiredService<BackboneRegistry>(),
            sp.GetRequiredService<InferenceOptions>().MaxImportBytes));
        services.AddSingleton<Services.Classify.ModelCatalog>();
        services.AddSingleton<Services.Classify.ClassifyBatchStore>();
        services.AddSingleton<Services.Classify.ClassifyUploads>();
        services.AddSingleton<WbcPortal.Engine.Detection.IWbcDetector, WbcPortal.Engine.Detection.WbcDetector>();
        services.AddSingleton<Services.Smears.SmearService>();
        services.AddSingleton<Services.Smears.SmearBatchStore>();
        services.AddSingleton<RunStore>();
        services.AddSingleton<TrainingRunService>();
        services.AddSingleton<CrossValidationService>();
        services.AddSingleton<CrossValidationModels>();
        services.AddSingleton<RunQueries>();
        services.AddSingleton<RunDependents>();
        services.AddSingleton<RunDeletion>();
        services.AddSingleton<RunEdits>();
        services.AddSingleton<RunComparison>();
        services.AddSingleton<Services.Evaluation.RunReportQueries>();
        services.AddSingleton<Services.Review.ReviewService>();
        services.AddSingleton<Services.Datasets.DatasetVersionService>();
        services.AddSingleton<FrozenFeatureExtractor>();
        services.AddSingleton<Services.Review.LabelIssueService>();
        services.AddSingleton<WbcPortal.Engine.Evaluation.Explain.GradCamExplainer>();
        services.AddSingleton<Services.Review.ExplainService>();
        services.AddSingleton<Services.Review.NeighbourService>();
        services.AddSingleton<ExplorationService>();
        services.AddSingleton<Services.Exploration.ImageViewRenditions>();

        services.AddSingleton(sp => new BenchData(Path.GetFullPath(sp.GetRequiredService<IConfiguration>()["Bench:SharedData"] ?? Path.Combine("..", "shared", "data"))));
        services.AddSingleton<IBenchmark, BackboneForwardBenchmark>();
        services.AddSingleton<IBenchmark, ImportBenchmark>();
        services.AddSingleton<IBenchmark, TrainingPipelineBenchmark>();
        services.AddSingleton<IBenchmark, TrainingFlopBenchmark>();
        services.AddSingleton<IBenchmark, GroupingBenchmark>();
        services.AddSingleton<IBenchmark, ReviewBenchmark>();
        services.AddSingleton<IBenchmark, Services.Benchmarks.InferenceBenchmark>();
        services.AddSingleton<IBenchmark, SmearDetectBenchmark>();
        services.AddSingleton<IBenchmark, Services.Benchmarks.SmearBenchmark>();
        services.AddSingleton<IBenchmark, Services.Benchmarks.DecodeMemoryBenchmark>();
        services.AddSingleton<IBenchmark, Services.Benchmarks.JobQueueBenchmark>();
        services.AddSingleton<IBenchmark, Services.Benchmarks.IdleMemoryBenchmark>();
        services.AddSingleton<IBenchmark, Services.Benchmarks.CircuitBenchmark>();
        return services;
    }

    /// <summary>Users, roles, tokens and the audit (ASP.NET Core Identity in the portal's database); the web host adds sign-in on top.</summary>
    private static IServiceCollection AddAccounts(this IServiceCollection services)
    {
        services.AddOptions<AccountOptions>().BindConfiguration(AccountOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<AccountOptions>>().Value);
        services.AddSingleton<Services.Accounts.ActorContext>();
        services.AddSingleton<Services.Accounts.AccessControl>();
        services.AddSingleton<Services.Accounts.AuditLog>();
        services.AddSingleton<Services.Accounts.UserAccounts>();
        services.AddSingleton<Services.Accounts.ApiTokens>();
        services.AddIdentityCore<Storage.Entities.PortalUser>(o =>
            {
                // Length is what makes a password strong (NIST SP 800-63B); no composition rules.
                o.Password.RequireDigit = false;
                o.Password.RequireLowercase = false;
                o.Password.RequireUppercase = false;
                o.Password.RequireNonAlphanumeric = false;
                o.Password.RequiredUniqueChars = 1;
                o.User.AllowedUserNameCharacters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-";
                o.Lockout.AllowedForNewUsers = true;
            })
            .AddRoles<Microsoft.AspNetCore.Identity.IdentityRole>()
            .AddEntityFrameworkStores<WbcDbContext>();
        services.AddOptions<Microsoft.AspNetCore.Identity.IdentityOptions>().Configure<AccountOptions>((o, accounts) =>
        {
            o.Password.RequiredLength = accounts.MinPasswordLength;
            o.Lockout.MaxFailedAccessAttempts = accounts.MaxFailedSignIns;
            o.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(accounts.LockoutMinutes);
        });
        return services;
    }

    /// <summary><c>--data-dir</c> on the command line sets <c>Storage:DataDirectory</c>, for the web host and the verbs alike.</summary>
    public static IReadOnlyDictionary<string, string> SwitchMappings { get; } = new Dictionary<string, string>
    {
        ["--data-dir"] = $"{StorageOptions.Section}:{nameof(StorageOptions.DataDirectory)}",
    };
}
