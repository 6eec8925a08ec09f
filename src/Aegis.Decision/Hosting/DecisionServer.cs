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

    /// <summary>File the hash-chained audit log is appended to; none when null.</summary>
    public string? AuditPath { get; init; }

    /// <summary>Key that signs audit checkpoints (required with <see cref="AuditPath"/>).</summary>
    public Aegis.Policy.Signing.ISigner? AuditSigner { get; init; }

    /// <summary>A signed checkpoint after this many records.</summary>
    public int AuditCheckpointEvery { get; init; } = 1_000;

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

    /// <summary>Serve gRPC (and optionally the HTTP API) over TLS with this certificate, reread when it rotates; h2c when null.</summary>
    public DecisionTlsFiles? Tls { get; init; }
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
        builder.Services.AddSingleton(sp =>
        {
            var keys = sp.GetRequiredService<IJwksSource>();
            return new TokenValidator(() => keys.Current, options.Time);
        });
        builder.Services.AddSingleton(options.State ?? new DecisionState(new InMemoryBudgetStore(), new InMemoryRateLimiter(), new InMemoryTokenIdStore(options.Time)));
        builder.Services.AddSingleton<DecisionTelemetry>();
        builder.Services.AddSingleton(new MeterCredential(options.MeterSecret));
        if (options.AuditPath is { } auditPath)
        {
            var signer = options.AuditSigner ?? throw new ArgumentException("AuditSigner is required when AuditPath is set", nameof(options));
            builder.Services.AddSingleton(sp => AuditLog.Open(auditPath, signer, options.Time, sp.GetRequiredService<ILogger<AuditLog>>(), checkpointEvery: options.AuditCheckpointEvery));
        }

        builder.Services.AddSingleton(sp => new DecisionService(
            sp.GetRequiredService<BundleStore>(),
            sp.GetRequiredService<TokenValidator>(),
            sp.GetRequiredService<DecisionState>(),
            sp.GetRequiredService<DecisionTelemetry>(),
            options.Time,
            options.Region,
            sp.GetService<AuditLog>(),
            new DecisionExtensions(options.ApprovalsUrl is { } approvals
                ? new Approvals.OperatorApprovals(sp.GetRequiredService<IHttpClientFactory>().CreateClient("approvals"), approvals, options.ApprovalsTimeout)
                : null)));
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
        return app;
    }

    /// <summary>Builds, loads the bundles once, and starts. Port 0 lets the OS pick; the running server reports the bound ports.</summary>
    public static async Task<RunningDecisionServer> StartAsync(DecisionServerOptions options, Action<ILoggingBuilder>? logging = null, CancellationToken cancellationToken = default)
    {
        var app = Build(options, logging);

        // Load keys and bundles before accepting calls, so the first request sees them.
        if (app.Services.GetRequiredService<IJwksSource>() is HttpJwksSource jwks)
        {
            await jwks.RefreshAsync(cancellationToken).ConfigureAwait(false);
        }

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
