using System.Reflection;
using Hangfire;
using Hangfire.Storage.SQLite;
using Microsoft.Extensions.DependencyInjection;
using WbcPortal.Services.Accounts;
using WbcPortal.Tests.Support;

namespace WbcPortal.Tests.Integration.Accounts;

/// <summary>
/// Role checks live in the services: every state-changing method ([Demands]) is called as each role and is refused exactly
/// when the role is below the one the access table asks for; and no state-changing method goes without the mark.
/// </summary>
public sealed class RoleChecksTests
{
    private static readonly Assembly Portal = typeof(AccessControl).Assembly;

    public static IEnumerable<MethodInfo> DemandingMethods() =>
        Portal.GetTypes().Where(t => t.IsClass && !t.IsAbstract).SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly))
            .Where(m => m.GetCustomAttribute<DemandsAttribute>() is not null);

    [Fact]
    public async Task Every_state_changing_service_method_refuses_the_roles_below_its_action_and_lets_the_others_through()
    {
        using var data = new TempDirectory("wbc-roles");
        var services = new ServiceCollection().AddPortalCoreForTests(data.Path);
        WbcPortal.Services.Jobs.JobServiceExtensions.AddPortalJobs(services);
        services.AddSingleton<WbcPortal.Services.Smears.SmearDatasets>();
        services.AddSingleton<WbcPortal.Services.Training.RunStopRegistry>();
        services.AddSingleton<WbcPortal.Services.Training.RunJobs>();
        services.AddSingleton<WbcPortal.Services.Training.TrainingLauncher>();
        // Hangfire logs through a process-wide provider another test's host may have left disposed: its own default here.
        Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
        services.AddSingleton<IBackgroundJobClient>(_ => new BackgroundJobClient(new SQLiteStorage(Path.Combine(data.Path, "hangfire.db"))));
        // Not disposed: a job an Admin call starts in the background (with nonsense arguments, failing at once) may still log.
        var provider = services.BuildServiceProvider();
        await provider.MigrateAsync();
        var actors = provider.GetRequiredService<ActorContext>();

        var methods = DemandingMethods().ToList();
        Assert.True(methods.Count >= 35, $"only {methods.Count} methods carry [Demands]");
        var wrong = new List<string>();
        foreach (var method in methods)
        {
            var action = method.GetCustomAttribute<DemandsAttribute>()!.Action;
            var service = provider.GetRequiredService(method.DeclaringType!);
            foreach (var role in Enum.GetValues<PortalRole>())
            {
                bool refused;
                using (actors.Use(new Actor(ActorKind.User, $"test-{role}", role, $"test-{role}")))
                {
                    refused = await CallAsync(service, method) is AccessDeniedException;
                }
                bool shouldRefuse = !PortalAccess.Allows(role, action);
                if (refused != shouldRefuse) wrong.Add($"{method.DeclaringType!.Name}.{method.Name} as {role}: {(refused ? "refused" : "let through")}, needs {PortalAccess.Needs(action)}");
            }
            // Nobody signed in: refused, whatever the action.
            using (actors.Use(Actor.Anonymous))
            {
                if (await CallAsync(service, method) is not AccessDeniedException) wrong.Add($"{method.DeclaringType!.Name}.{method.Name} let an anonymous caller through");
            }
        }
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    /// <summary>Calls with default arguments: the check comes first, so a refusal is the first thing that can happen.</summary>
    private static async Task<Exception?> CallAsync(object service, MethodInfo method)
    {
        var args = method.GetParameters().Select(p => p.HasDefaultValue ? p.DefaultValue : p.ParameterType.IsValueType ? Activator.CreateInstance(p.ParameterType) : null).ToArray();
        try
        {
            var result = method.Invoke(service, args);
            if (result is Task task) await task;
            return null;
        }
        catch (TargetInvocationException ex) { return ex.InnerException; }
        catch (Exception ex) { return ex; }
    }

    private static readonly string[] ChangingPrefixes =
        ["Import", "Delete", "Create", "Start", "Stop", "Resume", "Activate", "Decide", "Undo", "Correct", "Recalibrate", "Make", "Enqueue", "Group", "Store",
         "Evaluate", "Backup", "Restore", "Analyze", "Predict", "RequestStop", "RunAgain", "CheckLeaks", "SetRole", "SetLocked", "ResetPassword", "Add", "Rename", "SetNotes"];

    /// <summary>What changes state without [Demands], and why that is right.</summary>
    private static readonly Dictionary<string, string> Exempt = new()
    {
        ["PortalJobs.StartAsync"] = "the hosted service's start, not a user's action",
        ["PortalJobs.StopAsync"] = "the hosted service's stop",
        ["ApiTokens.CreateAsync"] = "one's own token for anyone signed in, anyone's for ManageUsers: checked inside",
        ["UserAccounts.AddAsync"] = "has [Demands]",
        ["ChangeNotifier`1.Subscribe"] = "not a change",
        ["ClassifyUploads.AddAsync"] = "collects a batch in memory; classifying it is checked",
        ["ClassifyUploads.AddFolderAsync"] = "collects a batch in memory; classifying it is checked",
        ["BatchFolderStore`2.StoreAsync"] = "called by the checked batch jobs",
        ["UploadStaging.SweepAsync"] = "start-up housekeeping",
        ["NeighbourJobs.EnqueueBuildAsync"] = "queues a cache of a run's features for reading, computed on first view",
        ["ExplorationJobs.EnqueueAsync"] = "queues a cache of a dataset's measures for reading, made on first view",
        ["GroupingService.GroupAsync"] = "the overload without a margin calls the checked one",
        ["RunStopRegistry.Stop"] = "called by the checked launcher",
        ["ModelServing.AcquireAsync"] = "loads a model for the checked prediction",
        ["PortalJobs.EnqueueAsync"] = "runs the work as the one who queued it, and that work's services check",
        ["UploadStaging.DeleteStaged"] = "the job runner giving a finished job's staged upload back",
        ["DatasetService.ImportFolderAsync"] = "calls the checked ImportAsync",
        ["DatasetService.ImportZipAsync"] = "calls the checked ImportAsync",
        ["EvaluationService.PredictAsync"] = "predictions only, for the checked evaluation and review",
        ["SmearBatchStore.Corrections"] = "reads a batch's corrections",
        ["JobDatabase.CreateDbContext"] = "opens the job records' database for the board and the runner; the work's services check",
        ["JobDatabase.CreateDbContextAsync"] = "opens the job records' database for the board and the runner; the work's services check",
        ["Tab.EvaluateAsync"] = "the circuits bench's own headless browser tab (a script in the page it opened), no portal state",
    };

    [Fact]
    public void No_service_method_that_changes_state_goes_without_its_role_check()
    {
        var missing = Portal.GetTypes()
            .Where(t => t.IsClass && !t.IsAbstract && t.Namespace?.StartsWith("WbcPortal.Services", StringComparison.Ordinal) == true && !t.Name.Contains('<'))
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly).Select(m => (Type: t, Method: m)))
            .Where(x => ChangingPrefixes.Any(p => x.Method.Name.StartsWith(p, StringComparison.Ordinal)))
            .Where(x => x.Method.GetCustomAttribute<DemandsAttribute>() is null)
            .Select(x => $"{x.Type.Name}.{x.Method.Name}")
            .Where(name => !Exempt.ContainsKey(name))
            .Distinct().OrderBy(n => n).ToList();
        Assert.True(missing.Count == 0, "state-changing methods without [Demands] (add the check, or an exemption with its reason):\n" + string.Join("\n", missing));
    }
}
