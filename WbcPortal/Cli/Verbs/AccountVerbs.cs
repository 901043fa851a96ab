using System.CommandLine;
using WbcPortal.Services.Accounts;

namespace WbcPortal.Cli.Verbs;

/// <summary>
/// <c>user add NAME --role Admin|Reviewer|Viewer [--password-stdin]</c>: a user, for operators on the server (a lost Admin
/// password, the first accounts of a lab). Without a password, a one-time one is printed once. Also <c>user list</c>,
/// <c>user reset NAME</c> (a new one-time password) and <c>user role NAME ROLE</c>.
/// </summary>
public sealed class UserVerb : ICliVerb
{
    private readonly Argument<string> action = new("action") { Description = "add, list, reset or role" };
    private readonly Argument<string?> name = new("name") { Description = "User name", Arity = ArgumentArity.ZeroOrOne };
    private readonly Argument<string?> newRole = new("new-role") { Description = "For 'role': the new role", Arity = ArgumentArity.ZeroOrOne };
    private readonly Option<string> role = new("--role") { Description = "Admin, Reviewer or Viewer (for 'add')", DefaultValueFactory = _ => nameof(PortalRole.Viewer) };
    private readonly Option<bool> passwordStdin = new("--password-stdin") { Description = "Read the password from the first line of standard input (else a one-time password is printed once)" };

    public string Name => "user";

    public Command CreateCommand() => new(Name, "Add, list and reset portal users (the CLI runs as the server's operator)") { action, name, newRole, role, passwordStdin };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var accounts = services.GetRequiredService<UserAccounts>();
        string verb = parse.GetRequiredValue(action);
        string? user = parse.GetValue(name);
        switch (verb)
        {
            case "add":
            {
                if (string.IsNullOrWhiteSpace(user)) throw new CliException("user add NAME --role ROLE", 2);
                var r = ParseRole(parse.GetValue(role));
                string? password = null;
                if (parse.GetValue(passwordStdin))
                {
                    password = Console.In.ReadLine()?.TrimEnd('\r', '\n');
                    if (string.IsNullOrEmpty(password)) throw new CliException("--password-stdin: no password on standard input", 2);
                }
                var made = await accounts.AddAsync(user, r, password, cancellationToken);
                Print(output, made, "added");
                return 0;
            }
            case "reset":
            {
                if (string.IsNullOrWhiteSpace(user)) throw new CliException("user reset NAME", 2);
                Print(output, await accounts.ResetPasswordAsync(user, cancellationToken), "password reset");
                return 0;
            }
            case "role":
            {
                if (string.IsNullOrWhiteSpace(user)) throw new CliException("user role NAME ROLE", 2);
                var r = ParseRole(parse.GetValue(newRole));
                await accounts.SetRoleAsync(user, r, cancellationToken);
                output.WriteResult(new { user, role = r.ToString() }, w => w.WriteLine($"{user} is now {r}"));
                return 0;
            }
            case "list":
            {
                var users = await accounts.ListAsync(cancellationToken);
                output.WriteResult(new { users = users.Select(u => new { user = u.Name, role = u.Role.ToString(), lockedOut = u.LockedOut, activeTokens = u.ActiveTokens, created = u.CreatedAt }) },
                    w => { foreach (var u in users) w.WriteLine($"{u.Name,-24} {u.Role,-9} {(u.LockedOut ? "locked" : "active"),-7} {u.ActiveTokens} token(s)"); });
                return 0;
            }
            default:
                throw new CliException($"unknown action '{verb}': add, list, reset or role", 2);
        }
    }

    private static PortalRole ParseRole(string? text) =>
        PortalAccess.TryParseRole(text, out var r) ? r : throw new CliException($"--role must be Admin, Reviewer or Viewer, not '{text}'", 2);

    private static void Print(CliOutput output, NewPassword made, string what) =>
        output.WriteResult(new { user = made.User, role = made.Role.ToString(), password = made.OneTimePassword },
            w => w.WriteLine(made.OneTimePassword is { } p
                ? $"{made.User} ({made.Role}) {what}; one-time password (shown once, to be changed at first sign-in): {p}"
                : $"{made.User} ({made.Role}) {what}"));
}

/// <summary><c>token create USER [--expires-days N] [--name NAME] [--role ROLE]</c> and <c>token revoke ID</c>: API tokens, shown once.</summary>
public sealed class TokenVerb : ICliVerb
{
    private readonly Argument<string> action = new("action") { Description = "create or revoke" };
    private readonly Argument<string> target = new("user-or-id") { Description = "create: the user; revoke: the token's id" };
    private readonly Option<int?> days = new("--expires-days") { Description = "Days until it stops working (Accounts:TokenDefaultDays by default)" };
    private readonly Option<string> tokenName = new("--name") { Description = "What will use it", DefaultValueFactory = _ => "cli" };
    private readonly Option<string?> role = new("--role") { Description = "At most the user's role (the user's by default)" };

    public string Name => "token";

    public Command CreateCommand() => new(Name, "Create or revoke an API token (Authorization: Bearer TOKEN)") { action, target, days, tokenName, role };

    public async Task<int> RunAsync(ParseResult parse, IServiceProvider services, CliOutput output, CancellationToken cancellationToken)
    {
        var tokens = services.GetRequiredService<ApiTokens>();
        string verb = parse.GetRequiredValue(action);
        string what = parse.GetRequiredValue(target);
        if (verb == "create")
        {
            PortalRole? r = parse.GetValue(role) is { } text ? (PortalAccess.TryParseRole(text, out var pr) ? pr : throw new CliException($"--role must be Admin, Reviewer or Viewer, not '{text}'", 2)) : null;
            var made = await tokens.CreateAsync(what, parse.GetValue(tokenName) ?? "cli", r, parse.GetValue(days), cancellationToken);
            output.WriteResult(new { id = made.Summary.Id, token = made.Token, user = made.Summary.User, role = made.Summary.Role.ToString(), expires = made.Summary.ExpiresAt },
                w => w.WriteLine($"Token {made.Summary.Id} for {made.Summary.User} ({made.Summary.Role}, until {made.Summary.ExpiresAt:yyyy-MM-dd}), shown once: {made.Token}"));
            return 0;
        }
        if (verb == "revoke")
        {
            if (!int.TryParse(what, out int id)) throw new CliException("token revoke ID (a number, from the account or users page)", 2);
            await tokens.RevokeAsync(id, cancellationToken);
            output.WriteResult(new { id, revoked = true }, w => w.WriteLine($"Token {id} revoked"));
            return 0;
        }
        throw new CliException($"unknown action '{verb}': create or revoke", 2);
    }
}
