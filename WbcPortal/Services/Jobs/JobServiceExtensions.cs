namespace WbcPortal.Services.Jobs;

public static class JobServiceExtensions
{
    /// <summary>The job board, its runner and every kind's handler (one line per kind: a kind without one cannot be queued).</summary>
    public static IServiceCollection AddPortalJobs(this IServiceCollection services)
    {
        services.AddOptions<JobsOptions>().BindConfiguration(JobsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
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
        return services;
    }

    public static IServiceCollection AddJobHandler<THandler>(this IServiceCollection services) where THandler : class, IJobHandler =>
        services.AddSingleton<IJobHandler, THandler>();
}
