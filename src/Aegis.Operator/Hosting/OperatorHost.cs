using Aegis.Contracts.State;
using Aegis.Operator.Budgets;
using Aegis.Operator.Controllers;
using Aegis.Operator.Injection;
using Aegis.Operator.Keys;
using Aegis.Operator.Publishing;
using Aegis.Operator.Tokens;
using k8s;

namespace Aegis.Operator.Hosting;

/// <summary>Everything the operator is configured with; hosts fill it from flags or configuration.</summary>
public sealed record OperatorOptions
{
    public required IKubernetes Client { get; init; }

    /// <summary>The operator's namespace: its Lease and bundle ConfigMaps live here.</summary>
    public required string Namespace { get; init; }

    /// <summary>
    /// The signing keys, one per purpose (bundles, tokens): local keys, <see cref="SigningKeyRing"/>s (rotated, in
    /// Secrets) or KMS keys. Their public keys, each with its purpose, are served at /.well-known/jwks.json.
    /// </summary>
    public required OperatorSigningKeys Keys { get; init; }

    /// <summary>This replica's name in the Lease (the pod name in a cluster).</summary>
    public required string Identity { get; init; }

    public System.Net.IPAddress ListenAddress { get; init; } = System.Net.IPAddress.Loopback;

    /// <summary>HTTP port for /bundles/{tenant}, the JWKS and health (8080 by default).</summary>
    public int HttpPort { get; init; } = 8080;

    /// <summary>Also publish each bundle as a ConfigMap (leader only).</summary>
    public bool PublishConfigMaps { get; init; }

    /// <summary>Also publish each bundle to an object store (S3 or GCS; leader only).</summary>
    public ObjectStorePublisher? ObjectStore { get; init; }

    /// <summary>The decision servers' token-id store (Redis): <c>POST /v1/revocations</c> writes to it; 503 without it.</summary>
    public ITokenIdStore? Revocations { get; init; }

    /// <summary>Where decision servers count spend; when set, the leader copies it into AgentBudget status.</summary>
    public IBudgetStore? BudgetStore { get; init; }

    /// <summary>How often AgentBudget status is refreshed, and the least time between two writes to one object.</summary>
    public TimeSpan BudgetStatusInterval { get; init; } = TimeSpan.FromSeconds(30);

    public int Workers { get; init; } = 2;
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The sidecar injection webhook (HTTPS); null leaves it off.</summary>
    public WebhookHostOptions? Webhook { get; init; }

    /// <summary>The decision server's serving certificate and the CA sidecars trust for it; null issues none (and the webhook then refuses pods).</summary>
    public Certificates.DecisionTlsOptions? DecisionTls { get; init; }

    /// <summary><c>POST /v1/token</c> (org keys for agent tokens); null leaves it off.</summary>
    public TokenServiceOptions? Tokens { get; init; }

    /// <summary>The clock of key rotation and the token service (tests move it by hand).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Approvals: /v1/approvals, Slack, lifecycle of ApprovalRequests (docs/approvals.md).</summary>
    public Approvals.ApprovalSettings Approvals { get; init; } = new();
}

/// <summary>
/// The operator process: leader election, the tenant controller, and HTTP for <c>/bundles/{tenant}</c> (with
/// ETag), <c>/.well-known/jwks.json</c>, <c>/healthz</c> and <c>/readyz</c> (caches synced). Every replica serves
/// bundles; only the leader writes status and publishes externally.
/// </summary>
public static class OperatorHost
{
    private static IBundlePublisher? ExternalPublisher(OperatorOptions options)
    {
        IBundlePublisher[] publishers = [
            .. options.PublishConfigMaps ? [new ConfigMapPublisher(options.Client, options.Namespace)] : Array.Empty<IBundlePublisher>(),
            .. options.ObjectStore is { } store ? [store] : Array.Empty<IBundlePublisher>()];
        return publishers switch
        {
            [] => null,
            [var one] => one,
            _ => new FanOutPublisher(publishers),
        };
    }

    public static WebApplication Build(OperatorOptions options, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(options.ListenAddress, options.HttpPort);
            if (options.Webhook is { } webhook)
            {
                SidecarInjection.Listen(k, options.ListenAddress, webhook);
            }
        });
        var catalog = new BundleCatalog();
        builder.Services.AddSingleton(catalog);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton(sp => new Leadership(options.Client, options.Namespace, "aegis-operator", options.Identity, sp.GetRequiredService<ILogger<Leadership>>())
        {
            LeaseDuration = options.LeaseDuration,
            RenewDeadline = options.RenewDeadline,
            RetryPeriod = options.RetryPeriod,
        });
        builder.Services.AddSingleton(sp =>
        {
            var leadership = sp.GetRequiredService<Leadership>();
            var rotating = options.Keys.Bundles as SigningKeyRing;
            var external = ExternalPublisher(options);
            var controller = new TenantController(options.Client,
                new TenantReconciler(options.Keys.Bundles, rotating is null ? catalog : new ResignOnRotation(catalog, rotating, rotating)), TimeProvider.System,
                sp.GetRequiredService<ILoggerFactory>(), () => leadership.IsLeader, catalog,
                rotating is null || external is null ? external : new ResignOnRotation(external, rotating, rotating));
            if (rotating is not null)
            {
                // A new signing key re-signs every bundle, so the old key can leave the JWKS without stranding one.
                rotating.CurrentChanged += controller.RequeueAll;
            }


            // A new leader re-reconciles everything: status and external copies are its job from now on.
            leadership.StartedLeading += controller.RequeueAll;
            return controller;
        });
        // AddHostedService de-duplicates by implementation type, which would drop the second loop.
        builder.Services.AddSingleton<IHostedService>(sp => new LoopService(sp.GetRequiredService<Leadership>().RunAsync));
        builder.Services.AddSingleton<IHostedService>(sp => new LoopService(ct => sp.GetRequiredService<TenantController>().RunAsync(options.Workers, ct)));
        if (options.BudgetStore is { } budgetStore)
        {
            builder.Services.AddSingleton(sp => new BudgetStatusWriter(options.Client, budgetStore,
                () => sp.GetRequiredService<TenantController>().Snapshot("agentbudgets"), TimeProvider.System, sp.GetRequiredService<ILogger<BudgetStatusWriter>>())
            {
                Interval = options.BudgetStatusInterval,
            });
            builder.Services.AddSingleton<IHostedService>(sp => new LoopService(ct =>
                sp.GetRequiredService<BudgetStatusWriter>().RunAsync(() => sp.GetRequiredService<Leadership>().IsLeader, ct)));
        }

        foreach (var ring in options.Keys.Rings)
        {
            builder.Services.AddSingleton<IHostedService>(sp => new LoopService(ct => ring.RunAsync(() => sp.GetRequiredService<Leadership>().IsLeader, ct)));
        }

        if (options.Tokens is { } tokens)
        {
            builder.Services.AddSingleton(sp => new TokenEndpoint(
                new OrgKeyStore(options.Client, options.Namespace, tokens.SecretName, options.Time, sp.GetRequiredService<ILogger<OrgKeyStore>>()),
                options.Keys.Tokens, tokens, options.Time, sp.GetRequiredService<ILogger<TokenEndpoint>>()));
        }

        if (options.DecisionTls is { } decisionTls)
        {
            Certificates.DecisionTransport.AddServices(builder.Services, options.Client, decisionTls);
        }

        if (options.Webhook is { } injection)
        {
            SidecarInjection.AddServices(builder.Services, options.Client, options.Namespace, injection);
        }

        Approvals.ApprovalFeature.AddServices(builder.Services, options);
        var app = builder.Build();
        catalog.Map(app);
        Approvals.ApprovalFeature.Map(app);
        if (options.Webhook is not null)
        {
            SidecarInjection.Map(app);
        }

        if (options.Tokens is not null)
        {
            app.Services.GetRequiredService<TokenEndpoint>().Map(app);
        }

        new RevocationEndpoint(options.Client, options.Revocations, options.Time, app.Services.GetRequiredService<ILogger<RevocationEndpoint>>()).Map(app);

        // Read per request: a rotating ring publishes a new key before it signs and drops old ones after their retention.
        app.MapGet("/.well-known/jwks.json", () => Results.Text(options.Keys.PublishedKeys.ToJson(), "application/json"));
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", (TenantController controller, IServiceProvider services) => !controller.HasSynced
            ? Results.Text("not ready: caches are syncing\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : !SidecarInjection.Ready(services)
            ? Results.Text("not ready: the webhook has no serving certificate yet\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : Results.Text("ready\n"));
        return app;
    }

    /// <summary>Runs a long-lived loop as a hosted service, stopping it with the host.</summary>
    internal sealed class LoopService(Func<CancellationToken, Task> loop) : BackgroundService
    {
        protected override Task ExecuteAsync(CancellationToken stoppingToken) => loop(stoppingToken);
    }
}
