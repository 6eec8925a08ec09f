using Aegis.Contracts.State;
using Aegis.Operator.Budgets;
using Aegis.Operator.Caching;
using Aegis.Operator.Controllers;
using Aegis.Operator.Injection;
using Aegis.Operator.Keys;
using Aegis.Operator.Publishing;
using Aegis.Operator.Tenants;
using Aegis.Operator.Tokens;
using Aegis.Policy.Resources;
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

    /// <summary>How long stopping waits for the leader's work to drain before the Lease is released anyway.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The sidecar injection webhook (HTTPS); null leaves it off.</summary>
    public WebhookHostOptions? Webhook { get; init; }

    /// <summary>The decision server's serving certificate and the CA sidecars trust for it; null issues none (and the webhook then refuses pods).</summary>
    public Certificates.DecisionTlsOptions? DecisionTls { get; init; }

    /// <summary><c>POST /v1/token</c> (org keys for agent tokens); null leaves it off.</summary>
    public TokenServiceOptions? Tokens { get; init; }

    /// <summary>HTTPS for <see cref="HttpPort"/> (bundles, JWKS, tokens, approvals); null serves plain HTTP (development only).</summary>
    public OperatorHttpsOptions? Https { get; init; }

    /// <summary>The clock of everything the operator times: controllers, key rotation, the token service (tests move it by hand).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Approvals: /v1/approvals, Slack, lifecycle of ApprovalRequests (docs/approvals.md).</summary>
    public Approvals.ApprovalSettings Approvals { get; init; } = new();
}

/// <summary>
/// The operator process as a small manager (controller-runtime's <c>Manager</c>): one shared <see cref="InformerCache"/>;
/// runnables every replica runs (the cache, the bundle controller, the webhook's certificates); and runnables that
/// run only while this replica leads, started and stopped as a whole by <see cref="Leadership"/> (status writes,
/// bundle sequencing and external publishing, approvals, budget status). HTTP serves <c>/bundles/{tenant}</c> (with
/// ETag), <c>/.well-known/jwks.json</c>, <c>/healthz</c> and <c>/readyz</c> (the cache synced, and not stopping).
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
            OperatorHttps.Listen(k, options);
            if (options.Webhook is { } webhook)
            {
                SidecarInjection.Listen(k, options.ListenAddress, webhook);
            }
        });
        var catalog = new BundleCatalog();
        var readiness = new Readiness();
        builder.Services.AddSingleton(catalog);
        builder.Services.AddSingleton(readiness);
        builder.Services.AddSingleton(options.Time);
        builder.Services.AddSingleton(sp => InformerCache.ForOperator(options.Client, options.Namespace, options.Time, sp.GetRequiredService<ILoggerFactory>()));
        builder.Services.AddSingleton(sp =>
        {
            var rotating = options.Keys.Bundles as SigningKeyRing;
            var external = ExternalPublisher(options);
            var controllers = new TenantControllers(options.Client, sp.GetRequiredService<InformerCache>(), options.Namespace, options.Keys.Bundles, catalog,
                rotating is null ? catalog : new ResignOnRotation(catalog, rotating, rotating),
                rotating is null || external is null ? external : new ResignOnRotation(external, rotating, rotating),
                options.Time, sp.GetRequiredService<ILoggerFactory>(), options.Workers);
            if (rotating is not null)
            {
                // A new signing key re-signs every bundle, so the old key can leave the JWKS without stranding one.
                rotating.CurrentChanged += controllers.RequeueAll;
            }

            return controllers;
        });
        if (options.BudgetStore is { } budgetStore)
        {
            builder.Services.AddSingleton(sp => new BudgetStatusWriter(options.Client, budgetStore, sp.GetRequiredService<InformerCache>().For<AgentBudget>().List, options.Time,
                sp.GetRequiredService<ILogger<BudgetStatusWriter>>())
            {
                Interval = options.BudgetStatusInterval,
            });
        }

        builder.Services.AddSingleton(sp =>
        {
            var leadership = new Leadership(options.Client, options.Namespace, "aegis-operator", options.Identity, sp.GetRequiredService<ILogger<Leadership>>())
            {
                LeaseDuration = options.LeaseDuration,
                RenewDeadline = options.RenewDeadline,
                RetryPeriod = options.RetryPeriod,
                StopTimeout = options.DrainTimeout,
                Time = options.Time,
            };
            leadership.Add(sp.GetRequiredService<TenantControllers>().Statuses);
            leadership.Add(sp.GetRequiredService<Approvals.ApprovalController>());
            if (sp.GetService<BudgetStatusWriter>() is { } writer)
            {
                leadership.Add(writer);
            }

            return leadership;
        });

        // Stopped in reverse: the leader's work and the Lease first, then the bundle controller, then the cache.
        // (AddHostedService de-duplicates by implementation type, which would drop all but one loop.)
        builder.Services.AddSingleton<IHostedService>(sp => new LoopService(sp.GetRequiredService<InformerCache>().RunAsync));
        builder.Services.AddSingleton<IHostedService>(sp => new LoopService(sp.GetRequiredService<TenantControllers>().Bundles.RunAsync));
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
            SidecarInjection.AddServices(builder.Services, options.Client, options.Namespace, injection, options.Time);
        }

        OperatorHttps.AddServices(builder.Services, options);
        Approvals.ApprovalFeature.AddServices(builder.Services, options);
        builder.Services.AddSingleton<IHostedService>(sp => new LoopService(sp.GetRequiredService<Leadership>().RunAsync));
        var app = builder.Build();

        // Not ready from the moment shutdown begins, so no new traffic is routed here while it drains.
        app.Lifetime.ApplicationStopping.Register(readiness.Stop);
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
        app.MapGet("/readyz", (InformerCache cache, IServiceProvider services) =>
            readiness.Stopping ? Results.Text("not ready: shutting down\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : !cache.HasSynced ? Results.Text("not ready: caches are syncing\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : !SidecarInjection.Ready(services) ? Results.Text("not ready: the webhook has no serving certificate yet\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : !OperatorHttps.IsReady(services) ? Results.Text("not ready: HTTPS has no serving certificate yet\n", statusCode: StatusCodes.Status503ServiceUnavailable)
            : Results.Text("ready\n"));
        return app;
    }

    /// <summary>Runs a long-lived loop as a hosted service, stopping it with the host.</summary>
    internal sealed class LoopService(Func<CancellationToken, Task> loop) : BackgroundService
    {
        protected override Task ExecuteAsync(CancellationToken stoppingToken) => loop(stoppingToken);
    }

    /// <summary>Whether the process has begun shutting down (readiness turns false at once).</summary>
    internal sealed class Readiness
    {
        private volatile bool _stopping;

        public bool Stopping => _stopping;

        public void Stop() => _stopping = true;
    }
}
