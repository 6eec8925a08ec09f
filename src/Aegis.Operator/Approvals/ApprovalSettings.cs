namespace Aegis.Operator.Approvals;

/// <summary>How the operator runs approvals; Slack is optional (without it, approvals are decided with <c>aegis approve|deny</c>).</summary>
public sealed record ApprovalSettings
{
    /// <summary>Slack bot token (xoxb-…, scope chat:write); null leaves Slack off.</summary>
    public string? SlackBotToken { get; init; }

    /// <summary>The Slack app's signing secret, which /slack/interactions verifies every request with.</summary>
    public string? SlackSigningSecret { get; init; }

    /// <summary>Slack's Web API base (tests point it at an in-process server).</summary>
    public Uri SlackApi { get; init; } = Slack.SlackClient.SlackApi;

    /// <summary>Where Slack's response_url may point; clicks are answered only there (tests point it at a fake).</summary>
    public Uri SlackResponseUrls { get; init; } = new("https://hooks.slack.com/");

    /// <summary>Channel used when a rule's approval names none.</summary>
    public string? DefaultChannel { get; init; }

    /// <summary>Members of each <c>group:NAME</c> approver, as <c>slack:USERID</c>.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Groups { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>How long resolved ApprovalRequests are kept before they are deleted.</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Lifetime of an override token, counted from the approval (at most 10 minutes).</summary>
    public TimeSpan OverrideLifetime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How often every ApprovalRequest is looked at again (expiry, escalation, retention).</summary>
    public TimeSpan Resync { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Issuer of override tokens.</summary>
    public string Issuer { get; init; } = "aegis-operator";

    /// <summary>Longest override lifetime accepted.</summary>
    public static readonly TimeSpan MaxOverrideLifetime = TimeSpan.FromMinutes(10);
}
