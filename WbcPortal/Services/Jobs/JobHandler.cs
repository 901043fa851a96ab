namespace WbcPortal.Services.Jobs;

/// <summary>What a running job gets: where to report progress, and its cancellation (a user's Cancel, or the process stopping).</summary>
public sealed record JobContext(IProgress<JobProgress> Progress, CancellationToken CancellationToken);

/// <summary>Runs one <see cref="JobKind"/>: registered with <c>AddJobHandler</c>, found by <see cref="JobRunner"/> by kind.</summary>
public interface IJobHandler
{
    JobKind Kind { get; }
    Type RequestType { get; }
    /// <summary>The result's type, as stored (JSON) and read back by pages of any node.</summary>
    Type ResultType { get; }
    Task<object> RunAsync(JobRequest request, JobContext context);
}

/// <summary>The one shape of a job: a typed request in, a typed result out; state, progress, failure and clean-up are the runner's.</summary>
public abstract class JobHandler<TRequest, TResult> : IJobHandler where TRequest : JobRequest where TResult : notnull
{
    public JobKind Kind { get; } = KindOf();
    public Type RequestType => typeof(TRequest);
    public Type ResultType => typeof(TResult);

    async Task<object> IJobHandler.RunAsync(JobRequest request, JobContext context) => await RunAsync((TRequest)request, context);

    protected abstract Task<TResult> RunAsync(TRequest job, JobContext context);

    /// <summary>The kind a request type stands for, read from the type itself (one place says it).</summary>
    private static JobKind KindOf() => ((JobRequest)System.Runtime.CompilerServices.RuntimeHelpers.GetUninitializedObject(typeof(TRequest))).Kind;
}

/// <summary>Reports synchronously on the caller's thread (Progress&lt;T&gt; would post to a context and reorder).</summary>
public sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
