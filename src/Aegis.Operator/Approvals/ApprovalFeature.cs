using Aegis.Operator.Caching;
using Aegis.Operator.Hosting;
using Aegis.Operator.Slack;

namespace Aegis.Operator.Approvals;

/// <summary>Wires approvals into the operator host: the desk (/v1/approvals), Slack interactions, and the controller.</summary>
public static class ApprovalFeature
{
    public static void AddServices(IServiceCollection services, OperatorOptions options)
    {
        var settings = options.Approvals;
        if (settings.OverrideLifetime <= TimeSpan.Zero || settings.OverrideLifetime > ApprovalSettings.MaxOverrideLifetime)
        {
            throw new ArgumentException($"Approvals.OverrideLifetime must be within (0, {ApprovalSettings.MaxOverrideLifetime}]", nameof(options));
        }

        if (settings.SlackBotToken is not null && settings.SlackSigningSecret is null)
        {
            throw new ArgumentException("Approvals.SlackSigningSecret is required with a Slack bot token: clicks could not be verified", nameof(options));
        }

        services.AddHttpClient("slack", http => http.Timeout = TimeSpan.FromSeconds(10));
        services.AddSingleton(sp => new ApprovalController(options.Client, settings,
            settings.SlackBotToken is { } token ? new SlackClient(sp.GetRequiredService<IHttpClientFactory>().CreateClient("slack"), settings.SlackApi, token, options.Time) : null,
            sp.GetRequiredService<InformerCache>(), options.Time, sp.GetRequiredService<ILoggerFactory>(), options.Workers));

        // Read per request: agents' tokens verify against the keys published now, across rotations.
        services.AddSingleton(sp => new ApprovalDesk(options.Client, () => options.Keys.PublishedKeys, Tokens.TokenServiceOptions.Expectations(options.Tokens),
            new ApprovalRules(sp.GetRequiredService<InformerCache>()),
            new OverrideTokens(options.Keys.Tokens, settings.Issuer, options.Tokens?.Audience ?? Policy.Identity.AgentTokens.DefaultAudience, settings.OverrideLifetime),
            sp.GetRequiredService<InformerCache>().For<Aegis.Policy.Resources.ApprovalRequest>().List,
            settings, options.Time, sp.GetRequiredService<ILogger<ApprovalDesk>>()));
        if (settings.SlackSigningSecret is { } secret)
        {
            services.AddSingleton(sp => new SlackInteractions(options.Client, secret, new Approvers(settings.Groups),
                sp.GetRequiredService<IHttpClientFactory>().CreateClient("slack"), settings.SlackResponseUrls, options.Time, sp.GetRequiredService<ILogger<SlackInteractions>>()));
        }
    }

    public static void Map(WebApplication app)
    {
        app.Services.GetRequiredService<ApprovalDesk>().Map(app);
        app.Services.GetService<SlackInteractions>()?.Map(app);
    }
}
