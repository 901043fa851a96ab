namespace WbcPortal.Services.Jobs;

public static class JobServiceExtensions
{
    /// <summary>The job board, its runner and every kind's handler (one line per kind: a kind without one cannot be queued).</summary>
    public static IServiceCollection AddPortalJobs(this IServiceCollection services)
    {
        services.AddOptions<JobsOptions>().BindConfiguration(JobsOptions.Section).ValidateDataAnnotations()
            .Validate(o => { try { _ = o.QueueList; return true; } catch (ArgumentException) { return false; } },
                $"Jobs:Queues must list queues from {string.Join(", ", JobKinds.AllQueues)}, comma-separated (or none).")
            .ValidateOnStart();
        services.AddSingleton<JobDatabase>();
        services.AddSingleton<JobDispatch>();
        services.AddSingleton<PortalJobs>();
        services.AddHostedService(sp => sp.GetRequiredService<PortalJobs>());
        services.AddSingleton<JobRunner>();
        services.AddJobHandler<ImportJobHandler>();
        services.AddJobHandler<GroupingJobHandler>();
        services.AddJobHandler<SplitJobHandler>();
        services.AddJobHandler<LeakCheckJobHandler>();
        services.AddJobHandler<VersionJobHandler>();
        services.AddJobHandler<LabelIssuesJobHandler>();
        services.AddSingleton<Evaluation.EvaluationJobs>();
        services.AddJobHandler<Evaluation.EvaluateJobHandler>();
        services.AddJobHandler<ProbeJobHandler>();
        services.AddSingleton<Classify.ClassifyBatches>();
        services.AddSingleton<Classify.ClassifyJobs>();
        services.AddJobHandler<Classify.ClassifyBatchJobHandler>();
        services.AddSingleton<Smears.SmearBatches>();
        services.AddSingleton<Smears.SmearJobs>();
        services.AddJobHandler<Smears.SmearBatchJobHandler>();
        services.AddSingleton<Review.NeighbourJobs>();
        services.AddJobHandler<Review.NeighbourIndexJobHandler>();
        services.AddSingleton<Exploration.ExplorationJobs>();
        services.AddJobHandler<Exploration.ExplorationJobHandler>();
        services.AddSingleton<Training.CrossValidationModelJobs>();
        services.AddJobHandler<Training.CrossValidationModelJobHandler>();
        return services;
    }

    /// <summary>Everything a node that runs jobs needs (the web host and <c>worker</c>): the board, the handlers, and training's job.</summary>
    public static IServiceCollection AddJobWork(this IServiceCollection services)
    {
        services.AddPortalJobs();
        services.AddSingleton<Smears.SmearDatasets>();
        services.AddSingleton<Training.RunStopRegistry>();
        services.AddSingleton<Training.RunJobs>();
        services.AddSingleton<Training.TrainingLauncher>();
        return services;
    }

    public static IServiceCollection AddJobHandler<THandler>(this IServiceCollection services) where THandler : class, IJobHandler =>
        services.AddSingleton<IJobHandler, THandler>();
}
