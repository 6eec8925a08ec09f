using Aegis.Decision.Api;
using Aegis.Decision.Audit;
using Aegis.Decision.ExtAuthz;
using Aegis.Decision.ExtProc;
using Aegis.Decision.Bundles;
using Aegis.Decision.Identity;
using Aegis.Contracts.State;
using Aegis.State;
using Aegis.Decision.Telemetry;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Aegis.Decision.Hosting;

/// <summary>Everything a decision server is configured with. Hosts fill it from flags or configuration.</summary>
public sealed record DecisionServerOptions
{
    /// <summary>Folder of <c>&lt;tenant&gt;.tar.gz</c> bundles, watched for changes (or use <see cref="BundleUrl"/>).</summary>
    public string? BundleDirectory { get; init; }

    /// <summary>URL template of each tenant's bundle, polled with If-None-Match, e.g. http://aegis-operator:8080/bundles/{tenant}.</summary>
    public string? BundleUrl { get; init; }

    /// <summary>How often <see cref="BundleUrl"/> is polled.</summary>
    public TimeSpan BundlePoll { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>JWKS file with the keys bundles and tokens are signed with (or use <see cref="JwksUrl"/>).</summary>
    public string? JwksPath { get; init; }

    /// <summary>JWKS URL, refreshed every <see cref="JwksRefresh"/>.</summary>
    public Uri? JwksUrl { get; init; }

    public TimeSpan JwksRefresh { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>The region this server runs in (TenantRegion rules need it).</summary>
    public string? Region { get; init; }

    /// <summary>Tenants that must have a valid bundle before /readyz is true.</summary>
    public IReadOnlyList<string> Tenants { get; init; } = [];

    /// <summary>Address to listen on; loopback by default.</summary>
    public System.Net.IPAddress ListenAddress { get; init; } = System.Net.IPAddress.Loopback;

    /// <summary>gRPC (h2c) port for Envoy ext_authz and ext_proc; 0 picks a free one.</summary>
    public int GrpcPort { get; init; } = 9191;

    /// <summary>HTTP port for the JSON API, health and metrics; 0 picks a free one.</summary>
    public int HttpPort { get; init; } = 8181;

    /// <summary>How often the bundle folder is rescanned even without file events.</summary>
    public TimeSpan BundleRescan { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The hash-chained, checkpointed audit log of this replica and where it is shipped; none when null.</summary>
    public DecisionAuditOptions? Audit { get; init; }

    /// <summary>OTLP/HTTP endpoint (such as http://otel-collector:4318) that decision spans are exported to; none when null.</summary>
    public Uri? OtlpEndpoint { get; init; }

    /// <summary>How long spans are batched before export.</summary>
    public TimeSpan OtlpBatchDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Stores for budgets, rate limits and token ids; in-memory unless given.</summary>
    public DecisionState? State { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The operator (such as http://aegis-operator:8080/) that approval_needed calls are filed with; none when null.</summary>
    public Uri? ApprovalsUrl { get; init; }

    /// <summary>How long a decision waits for the operator to file an ApprovalRequest.</summary>
    public TimeSpan ApprovalsTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The secret of a trusted meter that may settle reservations through <c>POST /v1/spend</c>; none when null.</summary>
    public string? MeterSecret { get; init; }

    /// <summary>Run the in-memory approvals desk of standalone mode (<c>/v1/approvals</c> on the HTTP port) instead of the operator's.</summary>
    public bool StandaloneApprovals { get; init; }

    /// <summary>Serve gRPC (and optionally the HTTP API) over TLS with this certificate, reread when it rotates; h2c when null.</summary>
    public DecisionTlsFiles? Tls { get; init; }

    /// <summary>The one <c>iss</c> agent tokens must carry (the operator's token service by default).</summary>
    public string TokenIssuer { get; init; } = Aegis.Policy.Identity.AgentTokens.OperatorIssuer;

    /// <summary>The audience agent tokens' <c>aud</c> must name.</summary>
    public string TokenAudience { get; init; } = Aegis.Policy.Identity.AgentTokens.DefaultAudience;

    /// <summary>How often the revocation list is re-read from the token-id store.</summary>
    public TimeSpan RevocationRefresh { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long the revocation list may go unread (Redis down) before every token is refused.</summary>
    public TimeSpan RevocationMaxStaleness { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Standalone only: the admin token that authorizes <c>POST /v1/revocations</c> and the approvals desk on the JSON
    /// API; null leaves them off (in a cluster, revocations and approvals go through the operator).
    /// </summary>
    public string? AdminToken { get; init; }

    /// <summary>PEM file of the CAs the operator's HTTPS (bundles, JWKS, approvals) is verified against; the system store when null.</summary>
    public string? CaFile { get; init; }
}

/// <summary>A running decision server and the ports it listens on.</summary>
public sealed class RunningDecisionServer(WebApplication app, int grpcPort, int httpPort) : IAsyncDisposable
{
    private int stopped;

    public WebApplication App { get; } = app;
    public int GrpcPort { get; } = grpcPort;
    public int HttpPort { get; } = httpPort;
    public BundleStore Bundles => App.Services.GetRequiredService<BundleStore>();

    /// <summary>
    /// Drains, then stops: /readyz turns false and new calls are refused at once; calls already admitted get up to
    /// <paramref name="drain"/> to finish; then background work (bundle and key pollers, folder watchers) stops and the
    /// listeners close, cutting whatever is still open (an ext_proc stream, a long answer). True when nothing was cut.
    /// </summary>
    public async Task<bool> DrainAsync(TimeSpan drain)
    {
        var gate = App.Services.GetRequiredService<ShutdownGate>();
        gate.Begin();
        using var deadline = new CancellationTokenSource(drain, App.Services.GetRequiredService<TimeProvider>());
        var drained = await gate.WaitIdleAsync(deadline.Token).ConfigureAwait(false);
        if (Interlocked.Exchange(ref stopped, 1) == 0)
        {
            // Past the deadline the token is already cancelled, so Kestrel aborts the connections still open instead of waiting.
            await App.StopAsync(deadline.Token).ConfigureAwait(false);
        }

        return drained;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref stopped, 1) == 0)
        {
            await App.StopAsync().ConfigureAwait(false);
        }

        await App.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>Builds the decision server: Kestrel with h2c gRPC on one port and HTTP/1.1 on the other.</summary>
public static class DecisionServer
{
    /// <summary>Builds the application without starting it.</summary>
    public static WebApplication Build(DecisionServerOptions options, Action<ILoggingBuilder>? logging = null)
    {
        var builder = WebApplication.CreateSlimBuilder();

        // The embedding command owns SIGINT/SIGTERM and drains through RunningDecisionServer.DrainAsync.
        builder.Services.AddSingleton<IHostLifetime, EmbeddedHostLifetime>();
        builder.Services.AddSingleton<ShutdownGate>();

        // One log line per request would cost more than the decision; spans and metrics carry that instead.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging?.Invoke(builder.Logging);
        var endpoints = new ListenEndpoints();
        builder.Services.AddSingleton(endpoints);
        if (options.Tls is { } tls)
        {
            builder.Services.AddSingleton(sp => new ServingCertificateFiles(tls, options.Time, sp.GetRequiredService<ILogger<ServingCertificateFiles>>()));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<ServingCertificateFiles>());
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            var certificate = options.Tls is null ? null : kestrel.ApplicationServices.GetRequiredService<ServingCertificateFiles>();

            // Read before listening, so a missing or broken pair fails the start naming the file instead of every handshake.
            certificate?.LoadInitial();
            kestrel.Listen(options.ListenAddress, options.GrpcPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                if (certificate is not null)
                {
                    // Every handshake reads the current certificate: a rotated one needs no restart.
                    listen.UseHttps(new Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions { ServerCertificateSelector = (_, _) => certificate.Current });
                }

                endpoints.Grpc = listen;
            });
            kestrel.Listen(options.ListenAddress, options.HttpPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                if (certificate is not null && options.Tls!.ApplyToHttp)
                {
                    listen.UseHttps(new Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions { ServerCertificateSelector = (_, _) => certificate.Current });
                }

                endpoints.Http = listen;
            });
        });
        builder.Services.AddGrpc(grpc => grpc.EnableDetailedErrors = false);
        if (options.OtlpEndpoint is { } otlp)
        {
            builder.Services.AddOpenTelemetry()
                .ConfigureResource(resource => resource.AddService("aegis-decision"))
                .WithTracing(tracing => tracing
                    .AddSource(DecisionTelemetry.SourceName)
                    .AddOtlpExporter(exporter =>
                    {
                        exporter.Endpoint = new Uri(otlp, "v1/traces");
                        exporter.Protocol = OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf;
                        exporter.BatchExportProcessorOptions.ScheduledDelayMilliseconds = (int)options.OtlpBatchDelay.TotalMilliseconds;
                    }));
        }

        builder.Services.AddSingleton(options.Time);
        if ((options.BundleDirectory is null) == (options.BundleUrl is null))
        {
            throw new ArgumentException("set exactly one of BundleDirectory and BundleUrl", nameof(options));
        }

        if ((options.JwksPath is null) == (options.JwksUrl is null))
        {
            throw new ArgumentException("set exactly one of JwksPath and JwksUrl", nameof(options));
        }

        builder.Services.AddHttpClient();
        if (options.CaFile is { } caFile)
        {
            // Bundles, keys and approvals come from the operator: verified against its CA only.
            builder.Services.AddSingleton(sp => new TrustedCaFile(caFile, sp.GetRequiredService<ILogger<TrustedCaFile>>()));
            foreach (var name in new[] { "bundles", "jwks", "approvals" })
            {
                builder.Services.AddHttpClient(name).ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<TrustedCaFile>().Handler());
            }
        }
        if (options.JwksPath is { } jwksPath)
        {
            builder.Services.AddSingleton<IJwksSource>(new FileJwksProvider(jwksPath, options.Time));
        }
        else
        {
            builder.Services.AddSingleton(sp => new HttpJwksSource(options.JwksUrl!, sp.GetRequiredService<IHttpClientFactory>().CreateClient("jwks"), options.JwksRefresh, sp.GetRequiredService<ILogger<HttpJwksSource>>()));
            builder.Services.AddSingleton<IJwksSource>(sp => sp.GetRequiredService<HttpJwksSource>());
            builder.Services.AddHostedService(sp => sp.GetRequiredService<HttpJwksSource>());
        }

        builder.Services.AddSingleton(sp =>
        {
            var keys = sp.GetRequiredService<IJwksSource>();
            return new BundleStore(() => keys.Current, options.Time, sp.GetRequiredService<ILogger<BundleStore>>());
        });
        var state = options.State ?? new DecisionState(new InMemoryBudgetStore(), new InMemoryRateLimiter(), new InMemoryTokenIdStore(options.Time));
        state = state.Grants is null ? state with { Grants = new InMemoryApprovalGrants() } : state;
        builder.Services.AddSingleton(state);
        builder.Services.AddSingleton(sp => new RevocationList(sp.GetRequiredService<DecisionState>().TokenIds, options.Time, sp.GetRequiredService<ILogger<RevocationList>>())
        {
            RefreshInterval = options.RevocationRefresh,

            // A store in this process cannot fail to be read: standalone in-memory mode never refuses for staleness.
            MaxStaleness = options.State is null ? Timeout.InfiniteTimeSpan : options.RevocationMaxStaleness,
        });
        builder.Services.AddHostedService(sp => sp.GetRequiredService<RevocationList>());
        builder.Services.AddSingleton(sp =>
        {
            var keys = sp.GetRequiredService<IJwksSource>();
            return new TokenValidator(() => keys.Current, new Aegis.Policy.Identity.TokenExpectations { Issuer = options.TokenIssuer, Audience = options.TokenAudience },
                sp.GetRequiredService<RevocationList>(), options.Time);
        });
        builder.Services.AddSingleton(new AdminCredential(options.AdminToken));
        if (options.StandaloneApprovals)
        {
            builder.Services.AddSingleton(sp => new Approvals.StandaloneApprovalDesk(sp.GetRequiredService<DecisionState>().Grants!, options.Time));
        }

        if (options.AdminToken is { } adminToken)
        {
            builder.Services.AddSingleton(sp => new RevocationApi(sp.GetRequiredService<DecisionState>().TokenIds, sp.GetRequiredService<RevocationList>(), adminToken, options.Time, sp.GetRequiredService<ILogger<RevocationApi>>()));
        }

        builder.Services.AddSingleton<DecisionTelemetry>();
        builder.Services.AddSingleton(new MeterCredential(options.MeterSecret));
        if (options.Audit is { } audit)
        {
            var signer = audit.Log.Signer;
            if (signer.Purpose != Aegis.Policy.Signing.KeyPurpose.Audit)
            {
                // Checkpoints signed with another purpose's key would never verify (and would lend that key a second job).
                throw new ArgumentException($"the audit signer must be an audit key; key {signer.KeyId} is a {Aegis.Policy.Signing.KeyPurposes.Name(signer.Purpose)} key", nameof(options));
            }

            builder.Services.AddSingleton(sp =>
            {
                var pipeline = AuditPipeline.Start(audit, options.Time, sp.GetRequiredService<ILoggerFactory>());
                var telemetry = sp.GetRequiredService<DecisionTelemetry>();
                telemetry.Audit = pipeline.Log;
                telemetry.Archive = pipeline.Archive;
                return pipeline;
            });
        }

        builder.Services.AddSingleton(sp => new DecisionService(
            sp.GetRequiredService<BundleStore>(),
            sp.GetRequiredService<TokenValidator>(),
            sp.GetRequiredService<DecisionState>(),
            sp.GetRequiredService<DecisionTelemetry>(),
            options.Time,
            options.Region,
            sp.GetService<AuditPipeline>()?.Log,
            new DecisionExtensions(options.ApprovalsUrl is { } approvals
                ? new Approvals.OperatorApprovals(sp.GetRequiredService<IHttpClientFactory>().CreateClient("approvals"), approvals, options.ApprovalsTimeout)
                : sp.GetService<Approvals.StandaloneApprovalDesk>())));
        if (options.BundleDirectory is { } directory)
        {
            builder.Services.AddSingleton(sp => new DirectoryBundleSource(directory, sp.GetRequiredService<BundleStore>(), options.BundleRescan, sp.GetRequiredService<ILogger<DirectoryBundleSource>>()));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<DirectoryBundleSource>());
        }
        else
        {
            builder.Services.AddSingleton(sp => new HttpBundleSource(options.BundleUrl!, options.Tenants, sp.GetRequiredService<BundleStore>(),
                sp.GetRequiredService<IHttpClientFactory>().CreateClient("bundles"), options.BundlePoll, sp.GetRequiredService<ILogger<HttpBundleSource>>()));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<HttpBundleSource>());
        }

        var app = builder.Build();
        app.Use(RefuseWhileDraining);
        app.MapGrpcService<ExtAuthzService>();
        app.MapGrpcService<ExtProcService>();
        DecisionApi.Map(app, options.Tenants);
        if (options.StandaloneApprovals)
        {
            Approvals.StandaloneApprovalsApi.Map(app);
        }

        app.Services.GetService<RevocationApi>()?.Map(app);
        return app;
    }

    /// <summary>Builds, loads the bundles once, and starts. Port 0 lets the OS pick; the running server reports the bound ports.</summary>
    public static async Task<RunningDecisionServer> StartAsync(DecisionServerOptions options, Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default)
    {
        var app = Build(options, logging);

        // Open the audit log now, not at the first decision: a torn tail is repaired and a bad folder refused at start.
        app.Services.GetService<AuditPipeline>();

        // Load keys and bundles before accepting calls, so the first request sees them.
        if (app.Services.GetRequiredService<IJwksSource>() is HttpJwksSource jwks)
        {
            await jwks.RefreshAsync(cancellationToken).ConfigureAwait(false);
        }

        // Tokens are refused until the revocation list has been read once (it may hold any of them).
        await app.Services.GetRequiredService<RevocationList>().RefreshAsync(cancellationToken).ConfigureAwait(false);
        app.Services.GetService<DirectoryBundleSource>()?.ScanOnce();
        if (app.Services.GetService<HttpBundleSource>() is { } poller)
        {
            await poller.PollOnceAsync(cancellationToken).ConfigureAwait(false);
        }

        await app.StartAsync(cancellationToken).ConfigureAwait(false);

        // Kestrel writes the bound endpoint back into the listen options, so port 0 reads as the real port here.
        var endpoints = app.Services.GetRequiredService<ListenEndpoints>();
        return new RunningDecisionServer(app, endpoints.Grpc!.IPEndPoint!.Port, endpoints.Http!.IPEndPoint!.Port);
    }

    /// <summary>Admits calls through the <see cref="ShutdownGate"/>; once draining, refuses them (probes and metrics still answer).</summary>
    private static async Task RefuseWhileDraining(HttpContext context, RequestDelegate next)
    {
        if (context.Request.Path.Value is "/healthz" or "/readyz" or "/metrics")
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        var gate = context.RequestServices.GetRequiredService<ShutdownGate>();
        if (!gate.TryEnter())
        {
            await RefuseAsync(context).ConfigureAwait(false);
            return;
        }

        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            gate.Exit();
        }
    }

    private static Task RefuseAsync(HttpContext context)
    {
        const string message = "the decision server is shutting down; retry on another replica";
        if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) == true)
        {
            // A trailers-only gRPC answer: UNAVAILABLE is the status clients treat as "try elsewhere".
            context.Response.ContentType = "application/grpc";
            context.Response.Headers["grpc-status"] = "14";
            context.Response.Headers["grpc-message"] = ShutdownGate.ShuttingDown;
            return Task.CompletedTask;
        }

        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.Connection = "close";
        return context.Response.WriteAsJsonAsync(new Dictionary<string, string> { ["reason"] = ShutdownGate.ShuttingDown, ["message"] = message });
    }

    private sealed class ListenEndpoints
    {
        public ListenOptions? Grpc { get; set; }
        public ListenOptions? Http { get; set; }
    }
}
