using System.ComponentModel.DataAnnotations;

namespace WbcPortal.Options;

/// <summary>Sign-in, the first Admin and API tokens. Section <c>Accounts</c>.</summary>
public sealed class AccountOptions
{
    public const string Section = "Accounts";

    /// <summary>The first Admin, created at the first start when the portal has no user.</summary>
    [Required, RegularExpression(@"^[A-Za-z0-9._@-]{1,64}$", ErrorMessage = "Accounts:InitialAdmin must be 1-64 letters, digits or . _ @ -")]
    public string InitialAdmin { get; set; } = "admin";

    /// <summary>
    /// Its password (e.g. from an environment variable, <c>Accounts__InitialAdminPassword</c>). Empty: a one-time
    /// password is generated and printed once to the console (never logged), to be changed at first sign-in.
    /// </summary>
    public string? InitialAdminPassword { get; set; }

    [Range(8, 128)]
    public int MinPasswordLength { get; set; } = 10;

    /// <summary>Failed sign-ins in a row before the account is locked for <see cref="LockoutMinutes"/>.</summary>
    [Range(1, 100)]
    public int MaxFailedSignIns { get; set; } = 5;

    [Range(1, 1440)]
    public int LockoutMinutes { get; set; } = 15;

    /// <summary>How long a sign-in lasts without use (sliding), in hours.</summary>
    [Range(1, 720)]
    public int SessionHours { get; set; } = 12;

    [Range(1, 3650)]
    public int TokenDefaultDays { get; set; } = 90;

    [Range(1, 3650)]
    public int TokenMaxDays { get; set; } = 365;
}
