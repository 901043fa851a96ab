namespace WbcPortal.Services.Accounts;

/// <summary>The three roles, each allowed all that the ones below it are.</summary>
public enum PortalRole
{
    /// <summary>Reads every page, image, report and export.</summary>
    Viewer = 0,
    /// <summary>Also reviews, relabels, classifies and corrects smears.</summary>
    Reviewer = 1,
    /// <summary>Also uploads, trains, deletes, activates models and manages users.</summary>
    Admin = 2,
}

/// <summary>What someone may ask the portal to change; <see cref="PortalAccess"/> says which role each needs.</summary>
public enum PortalAction
{
    Review,
    Relabel,
    Classify,
    CorrectSmears,
    FindLabelIssues,
    Import,
    PrepareDatasets,
    Train,
    EditRuns,
    Evaluate,
    Delete,
    ManageModels,
    ManageStorage,
    ManageUsers,
    ReadAudit,
}

/// <summary>
/// One table says which role each action needs: the services check it (<see cref="AccessControl"/>), the pages show or
/// disable their buttons from it, and the README's role table is this one.
/// </summary>
public static class PortalAccess
{
    private static readonly IReadOnlyDictionary<PortalAction, (PortalRole Role, string Doing)> Table = new Dictionary<PortalAction, (PortalRole, string)>
    {
        [PortalAction.Review] = (PortalRole.Reviewer, "deciding reviews"),
        [PortalAction.Relabel] = (PortalRole.Reviewer, "making a relabelled dataset version"),
        [PortalAction.Classify] = (PortalRole.Reviewer, "classifying images and smears"),
        [PortalAction.CorrectSmears] = (PortalRole.Reviewer, "correcting smear counts"),
        [PortalAction.FindLabelIssues] = (PortalRole.Reviewer, "searching for label issues"),
        [PortalAction.Import] = (PortalRole.Admin, "uploading and importing images"),
        [PortalAction.PrepareDatasets] = (PortalRole.Admin, "grouping and splitting datasets"),
        [PortalAction.Train] = (PortalRole.Admin, "starting, stopping and resuming trainings"),
        [PortalAction.EditRuns] = (PortalRole.Admin, "renaming runs and editing their notes"),
        [PortalAction.Evaluate] = (PortalRole.Admin, "evaluating and calibrating runs"),
        [PortalAction.Delete] = (PortalRole.Admin, "deleting datasets, runs and stored files"),
        [PortalAction.ManageModels] = (PortalRole.Admin, "importing and activating models"),
        [PortalAction.ManageStorage] = (PortalRole.Admin, "backing up, restoring and cleaning the data folder"),
        [PortalAction.ManageUsers] = (PortalRole.Admin, "managing users and their tokens"),
        [PortalAction.ReadAudit] = (PortalRole.Admin, "reading the audit"),
    };

    public static PortalRole Needs(PortalAction action) => Table[action].Role;

    /// <summary>"uploading and importing images": for messages ("Your role does not allow …").</summary>
    public static string Describe(PortalAction action) => Table[action].Doing;

    public static bool Allows(PortalRole role, PortalAction action) => role >= Needs(action);

    public static IReadOnlyList<PortalAction> Actions { get; } = Enum.GetValues<PortalAction>();

    public static bool TryParseRole(string? text, out PortalRole role) =>
        Enum.TryParse(text?.Trim(), ignoreCase: true, out role) && Enum.IsDefined(role);
}

/// <summary>Who is acting: a signed-in user, an API token, the CLI's operator, the portal itself, or nobody signed in.</summary>
public enum ActorKind { User, Token, Operator, System, Anonymous }

/// <param name="Name">What the audit and the review record show: the user name, "operator (CLI)", "system".</param>
/// <param name="UserName">The signed-in user's name (for a token, its user), else null.</param>
public sealed record Actor(ActorKind Kind, string Name, PortalRole? Role, string? UserName = null, string? RemoteAddress = null)
{
    public static Actor System { get; } = new(ActorKind.System, "system", PortalRole.Admin);
    public static Actor Anonymous { get; } = new(ActorKind.Anonymous, "anonymous", null);

    /// <summary>The CLI, run on the server by someone who can read the data folder: all rights (README, Security).</summary>
    public static Actor Operator(string? unixUser) =>
        new(ActorKind.Operator, string.IsNullOrWhiteSpace(unixUser) ? "operator (CLI)" : $"operator (CLI, {unixUser})", PortalRole.Admin);

    public bool Can(PortalAction action) => Role is { } r && PortalAccess.Allows(r, action);
}

/// <summary>A request the actor's role does not allow: the message says what was refused and who may do it.</summary>
public sealed class AccessDeniedException(Actor actor, PortalAction action)
    : InvalidOperationException(actor.Role is { } role
        ? $"Signed in as {actor.Name} ({role}): {PortalAccess.Describe(action)} needs the {PortalAccess.Needs(action)} role; ask an Admin."
        : $"Sign in first: {PortalAccess.Describe(action)} needs the {PortalAccess.Needs(action)} role.")
{
    public Actor Actor { get; } = actor;
    public PortalAction Action { get; } = action;
}

/// <summary>Marks a service method that changes state: it checks <see cref="Action"/> first (a test calls every one with every role).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class DemandsAttribute(PortalAction action) : Attribute
{
    public PortalAction Action { get; } = action;
}
