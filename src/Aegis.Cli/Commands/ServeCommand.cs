using System.CommandLine;
using System.Net;
using Aegis.Cli.Shutdown;
using Aegis.Decision.Hosting;
using Aegis.State;
using Aegis.Policy.Bundles;
using Aegis.Policy.Loading;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.Policy.Values;

namespace Aegis.Cli.Commands;

/// <summary>
/// <c>aegis serve --manifests DIR</c>: the decision server on its embedded default. Compiles the manifests with a
/// development key kept in <c>.aegis/</c>, serves exactly as in a cluster from memory, and recompiles on change.
/// <c>aegis serve --bundle-url URL --jwks-url URL</c>: the same server in a cluster, polling the operator's signed
/// bundles and keys (what the Helm chart runs).
/// </summary>
internal static class ServeCommand
{
    public const string DefaultStateDir = ".aegis";

    public static Command Create(CliConsole console)
    {
        var manifests = new Option<DirectoryInfo?>("--manifests") { Description = "Folder of Aegis manifests (watched); or use --bundle-url" };
        var bundleUrl = new Option<string?>("--bundle-url") { Description = "Poll signed bundles from this URL template instead, e.g. http://aegis-operator.aegis-system.svc:8080/bundles/{tenant}" };
        var jwksUrl = new Option<string?>("--jwks-url") { Description = "With --bundle-url: the keys bundles and tokens are verified with, e.g. http://aegis-operator.aegis-system.svc:8080/.well-known/jwks.json" };
        var tenant = new Option<string[]>("--tenant") { Description = "With --bundle-url: a tenant to serve (repeat the option)", DefaultValueFactory = _ => [] };
        var listen = new Option<string>("--listen") { Description = "Address to listen on (0.0.0.0 in a pod)", DefaultValueFactory = _ => "127.0.0.1" };
        var region = new Option<string?>("--region") { Description = "Region this server runs in (needed by tenants with a TenantRegion)" };
        var stateDir = new Option<DirectoryInfo>("--state-dir") { Description = "Where the dev key and bundles live", DefaultValueFactory = _ => new DirectoryInfo(DefaultStateDir) };
        var grpcPort = new Option<int>("--grpc-port") { Description = "gRPC port for ext_authz and ext_proc", DefaultValueFactory = _ => 9191 };
        var httpPort = new Option<int>("--http-port") { Description = "JSON API, health and metrics port", DefaultValueFactory = _ => 8181 };
        var otlp = new Option<string?>("--otlp-endpoint") { Description = "OTLP/HTTP endpoint for decision spans, such as http://localhost:4318" };
        var redis = new Option<string?>("--redis") { Description = "Redis for budgets, rate limits and token ids (host:port or redis://...); in memory when absent" };
        var meter = new Option<FileInfo?>("--meter-token-file") { Description = "A file holding the secret of a trusted meter that may settle reservations with POST /v1/spend (off when absent)" };
        var issuer = new Option<string?>("--token-issuer") { Description = $"The one iss agent tokens must carry (default: {AgentTokens.DevelopmentIssuer} with --manifests, what 'aegis token' mints; {AgentTokens.OperatorIssuer} with --bundle-url, what the operator mints)" };
        var audience = new Option<string>("--token-audience") { Description = "The audience agent tokens' aud must name", DefaultValueFactory = _ => AgentTokens.DefaultAudience };
        var approvals = new Option<string?>("--approvals-url") { Description = "With --bundle-url: the operator's POST /v1/approvals, where approval_needed calls are filed, e.g. http://aegis-operator.aegis-system.svc:8080/v1/approvals" };
        var tlsCert = new Option<FileInfo?>("--tls-cert") { Description = "Serve gRPC over TLS with this PEM certificate (reread when it changes), e.g. the operator-issued /etc/aegis/tls/tls.crt" };
        var tlsKey = new Option<FileInfo?>("--tls-key") { Description = "The PEM private key of --tls-cert" };
        var tlsHttp = new Option<bool>("--tls-http") { Description = "With --tls-cert: serve the HTTP API (decide, health, metrics) over TLS too" };
        var drainTimeout = new Option<string>("--drain-timeout") { Description = "On SIGTERM or Ctrl+C: how long calls in flight may take to finish before they are cut", DefaultValueFactory = _ => "10s" };
        var caFile = new Option<FileInfo?>("--ca-file") { Description = "With --bundle-url: PEM CA bundle the operator's HTTPS is verified against (the mounted ConfigMap aegis-operator-ca), instead of the system store" };
        var command = new Command("serve", "Run the decision server: on a folder of manifests with a development key, or on the operator's bundles") { manifests, bundleUrl, jwksUrl, tenant, listen, region, stateDir, grpcPort, httpPort, redis, otlp, approvals, meter, issuer, audience, tlsCert, tlsKey, tlsHttp, caFile, drainTimeout };
        var auditFlags = new AuditFlags();
        foreach (var option in auditFlags.Options)
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, invocationToken) =>
        {
            if (!GoDuration.TryParse(parse.GetValue(drainTimeout), out var drain, out var drainError))
            {
                console.Error.WriteLine($"--drain-timeout: {drainError}");
                return AegisCommand.BadInput;
            }

            // From here on the first SIGINT/SIGTERM starts the drain instead of System.CommandLine's 2 s cut-off.
            using var signals = new ShutdownSignals(console.Error, outer: invocationToken);
            var cancellationToken = signals.Token;
            if (!IPAddress.TryParse(parse.GetValue(listen), out var address))
            {
                console.Error.WriteLine($"--listen: \"{parse.GetValue(listen)}\" is not an IP address");
                return AegisCommand.BadInput;
            }

            Uri? otlpEndpoint = null;
            if (parse.GetValue(otlp) is { } otlpText && !Uri.TryCreate(otlpText, UriKind.Absolute, out otlpEndpoint))
            {
                console.Error.WriteLine($"--otlp-endpoint: \"{otlpText}\" is not an absolute URL");
                return AegisCommand.BadInput;
            }

            string? meterSecret = null;
            if (parse.GetValue(meter) is { } meterFile)
            {
                if (!meterFile.Exists || (meterSecret = File.ReadAllText(meterFile.FullName).Trim()).Length < 16)
                {
                    console.Error.WriteLine($"--meter-token-file: {meterFile.FullName} must exist and hold a secret of at least 16 characters");
                    return AegisCommand.BadInput;
                }
            }

            if (TlsFiles(parse.GetValue(tlsCert), parse.GetValue(tlsKey), parse.GetValue(tlsHttp), out var tls) is { } tlsProblem)
            {
                console.Error.WriteLine(tlsProblem);
                return AegisCommand.BadInput;
            }

            var source = parse.GetValue(manifests);
            if ((source is null) == (parse.GetValue(bundleUrl) is null))
            {
                console.Error.WriteLine("give exactly one of --manifests (standalone) and --bundle-url (in a cluster)");
                return AegisCommand.BadInput;
            }

            if (source is null)
            {
                if (!Uri.TryCreate(parse.GetValue(jwksUrl), UriKind.Absolute, out var jwks) || parse.GetValue(tenant)!.Length == 0)
                {
                    console.Error.WriteLine("--bundle-url needs --jwks-url and at least one --tenant");
                    return AegisCommand.BadInput;
                }

                Uri? approvalsUrl = null;
                if (parse.GetValue(approvals) is { } approvalsText && !Uri.TryCreate(approvalsText, UriKind.Absolute, out approvalsUrl))
                {
                    console.Error.WriteLine($"--approvals-url: \"{approvalsText}\" is not an absolute URL");
                    return AegisCommand.BadInput;
                }

                if (parse.GetValue(caFile) is { Exists: false } missingCa)
                {
                    console.Error.WriteLine($"--ca-file: {missingCa.FullName} does not exist");
                    return AegisCommand.BadInput;
                }

                if (auditFlags.Check(parse, cluster: true) is { } clusterAuditError)
                {
                    console.Error.WriteLine(clusterAuditError);
                    return AegisCommand.BadInput;
                }

                if (await AuditOptionsAsync(auditFlags, parse, null, null, console, cancellationToken).ConfigureAwait(false) is not { } clusterAudit)
                {
                    return AegisCommand.BadInput;
                }

                await using var clusterRedis = parse.GetValue(redis) is { } url ? await RedisState.ConnectAsync(url).ConfigureAwait(false) : null;
                await using var polling = await StartAsync(new DecisionServerOptions
                {
                    BundleUrl = parse.GetValue(bundleUrl),
                    JwksUrl = jwks,
                    Tenants = parse.GetValue(tenant)!,
                    Region = parse.GetValue(region),
                    ListenAddress = address,
                    GrpcPort = parse.GetValue(grpcPort),
                    HttpPort = parse.GetValue(httpPort),
                    State = clusterRedis?.AsDecisionState(),
                    OtlpEndpoint = otlpEndpoint,
                    ApprovalsUrl = approvalsUrl,
                    MeterSecret = meterSecret,
                    CaFile = parse.GetValue(caFile)?.FullName,
                    Tls = tls,
                    TokenIssuer = parse.GetValue(issuer) ?? AgentTokens.OperatorIssuer,
                    TokenAudience = parse.GetValue(audience)!,
                    Audit = clusterAudit.Options,
                }, console, cancellationToken).ConfigureAwait(false);
                if (polling is null)
                {
                    return AegisCommand.BadInput;
                }

                console.Out.WriteLine($"aegis decision server on {address}: gRPC :{polling.GrpcPort}, HTTP :{polling.HttpPort}, bundles from {parse.GetValue(bundleUrl)}, tenants {string.Join(", ", parse.GetValue(tenant)!)}, "
                    + (clusterAudit.Options is { } a ? $"audit {a.Log.Directory} as replica {a.Log.Replica}" : "no audit log (--no-audit)"));
                await Task.Delay(Timeout.Infinite, cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                return await DrainAsync(polling, drain, signals, console).ConfigureAwait(false);
            }

            if (auditFlags.Check(parse, cluster: false) is { } auditError)
            {
                console.Error.WriteLine(auditError);
                return AegisCommand.BadInput;
            }

            if (!source.Exists)
            {
                console.Error.WriteLine($"{source.FullName}: no such directory");
                return AegisCommand.BadInput;
            }

            var state = parse.GetValue(stateDir)!;
            var keysDir = Path.Combine(state.FullName, "keys");
            var bundlesDir = Path.Combine(state.FullName, "bundles");
            Directory.CreateDirectory(bundlesDir);
            Dictionary<KeyPurpose, LocalEd25519Signer> keys;
            string adminToken;
            try
            {
                keys = KeysCommand.LoadOrCreate(keysDir, KeysCommand.DefaultPurposes, console);
                adminToken = LoadOrCreateAdminToken(state.FullName, console);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                console.Error.WriteLine($"{keysDir}: {e.Message}");
                return AegisCommand.BadInput;
            }

            using var bundleKey = keys[KeyPurpose.Bundle];
            using var tokenKey = keys[KeyPurpose.Token];
            using var auditKey = keys[KeyPurpose.Audit];
            var compiler = new ManifestCompiler(source.FullName, bundlesDir, bundleKey, console);
            var tenants = await compiler.CompileAsync(cancellationToken).ConfigureAwait(false);
            if (await AuditOptionsAsync(auditFlags, parse, state.FullName, auditKey, console, cancellationToken).ConfigureAwait(false) is not { Options: { } audit })
            {
                return AegisCommand.BadInput;
            }

            await using var redisState = parse.GetValue(redis) is { } redisUrl ? await RedisState.ConnectAsync(redisUrl).ConfigureAwait(false) : null;

            await using var server = await StartAsync(new DecisionServerOptions
            {
                BundleDirectory = bundlesDir,
                JwksPath = Path.Combine(keysDir, KeysCommand.JwksFile),
                Region = parse.GetValue(region),
                Tenants = tenants,
                ListenAddress = address,
                GrpcPort = parse.GetValue(grpcPort),
                HttpPort = parse.GetValue(httpPort),
                BundleRescan = TimeSpan.FromSeconds(2),
                State = redisState?.AsDecisionState(),
                OtlpEndpoint = otlpEndpoint,
                Audit = audit,
                MeterSecret = meterSecret,
                StandaloneApprovals = true,
                Tls = tls,
                TokenIssuer = parse.GetValue(issuer) ?? AgentTokens.DevelopmentIssuer,
                TokenAudience = parse.GetValue(audience)!,
                AdminToken = adminToken,
            }, console, cancellationToken).ConfigureAwait(false);
            if (server is null)
            {
                return AegisCommand.BadInput;
            }

            PrintBanner(console, server, tenants, source.FullName, parse.GetValue(region), parse.GetValue(redis), audit, Path.Combine(keysDir, KeysCommand.JwksFile));
            // The semaphore outlives the watcher (disposed in reverse order), and late events are ignored.
            using var changed = new SemaphoreSlim(0);
            using var watcher = new FileSystemWatcher(source.FullName) { IncludeSubdirectories = true, EnableRaisingEvents = true };
            void Signal()
            {
                try
                {
                    changed.Release();
                }
                catch (ObjectDisposedException)
                {
                }
            }

            watcher.Changed += (_, _) => Signal();
            watcher.Created += (_, _) => Signal();
            watcher.Deleted += (_, _) => Signal();
            watcher.Renamed += (_, _) => Signal();
            try
            {
                while (true)
                {
                    await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
                    await Task.Delay(200, cancellationToken).ConfigureAwait(false);
                    while (changed.CurrentCount > 0)
                    {
                        await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
                    }

                    console.Out.WriteLine("manifests changed; recompiling");
                    await compiler.CompileAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                watcher.EnableRaisingEvents = false;
            }

            return await DrainAsync(server, drain, signals, console).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>Drains the server after a stop was asked for; 0 whether or not calls had to be cut at the deadline.</summary>
    private static async Task<int> DrainAsync(RunningDecisionServer server, TimeSpan drain, ShutdownSignals signals, CliConsole console)
    {
        console.Out.WriteLine($"{signals.Signal ?? "stop requested"}: shutting down; /readyz is false and new calls are refused; calls in flight have {drain.TotalSeconds:0.###} s to finish (Ctrl+C again to exit at once)");
        var drained = await server.DrainAsync(drain).ConfigureAwait(false);
        console.Out.WriteLine(drained ? "drained; stopped" : "drain deadline reached: cut the calls still open; stopped");
        return 0;
    }

    /// <summary>Starts the server; null (with the reason printed) when its certificate pair cannot be loaded.</summary>
    private static async Task<RunningDecisionServer?> StartAsync(DecisionServerOptions options, CliConsole console, CancellationToken cancellationToken)
    {
        try
        {
            return await DecisionServer.StartAsync(options, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException e) when (options.Tls is not null && e.Message.StartsWith("TLS certificate", StringComparison.Ordinal))
        {
            console.Error.WriteLine(e.Message);
            return null;
        }
    }

    /// <summary>The TLS files from --tls-cert and --tls-key (both or neither); the problem, naming the flag, otherwise.</summary>
    private static string? TlsFiles(FileInfo? certificate, FileInfo? key, bool http, out DecisionTlsFiles? tls)
    {
        tls = null;
        if (certificate is null && key is null)
        {
            return http ? "--tls-http needs --tls-cert and --tls-key" : null;
        }

        if (certificate is null || key is null)
        {
            return "--tls-cert and --tls-key go together";
        }

        if (!certificate.Exists || !key.Exists)
        {
            return $"{(certificate.Exists ? "--tls-key " + key.FullName : "--tls-cert " + certificate.FullName)}: no such file";
        }

        tls = new DecisionTlsFiles { CertificatePath = certificate.FullName, KeyPath = key.FullName, ApplyToHttp = http };
        return null;
    }

    /// <summary>The standalone admin credential for POST /v1/revocations: read from, or created in, the state folder (0600).</summary>
    private static string LoadOrCreateAdminToken(string stateDir, CliConsole console)
    {
        var path = Path.Combine(stateDir, TokensCommand.AdminTokenFile);
        if (File.Exists(path) && File.ReadAllText(path).Trim() is { Length: >= 32 } existing)
        {
            return existing;
        }

        var token = KeysCommand.NewSecret();
        KeysCommand.WritePrivate(path, token + "\n");
        console.Out.WriteLine($"generated the standalone admin token in {path} (aegis tokens revoke --server uses it)");
        return token;
    }

    /// <summary>The audit options from the flags, wrapped so "no audit" (null) differs from "bad flags" (null wrapper, error printed).</summary>
    private static async Task<AuditChoice?> AuditOptionsAsync(AuditFlags flags, ParseResult parse, string? standaloneState, Aegis.Policy.Signing.ISigner? standaloneKey, CliConsole console, CancellationToken cancellationToken)
    {
        try
        {
            return new AuditChoice(await flags.BuildAsync(parse, standaloneState, standaloneKey, cancellationToken).ConfigureAwait(false));
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException or Aegis.Operator.Keys.KmsSigningException or ArgumentException or InvalidOperationException)
        {
            console.Error.WriteLine($"audit: {e.Message}");
            return null;
        }
    }

    private sealed record AuditChoice(Aegis.Decision.Audit.DecisionAuditOptions? Options);

    private static void PrintBanner(CliConsole console, RunningDecisionServer server, IReadOnlyList<string> tenants, string manifests, string? region, string? redis, Aegis.Decision.Audit.DecisionAuditOptions audit, string auditJwks)
    {
        console.Out.WriteLine($"""
            aegis decision server (standalone) on manifests {manifests}
              tenants:  {(tenants.Count == 0 ? "(none compiled)" : string.Join(", ", tenants))}
              region:   {region ?? "(not set: tenants with a TenantRegion are denied)"}
              state:    {(redis is null ? "in memory" : "Redis " + redis)}
              audit:    {audit.Log.Directory} as replica {audit.Log.Replica}  (aegis audit verify {audit.Log.Directory} --jwks {auditJwks})
              ext_authz gRPC (h2c)  127.0.0.1:{server.GrpcPort}  envoy.service.auth.v3.Authorization/Check
              ext_proc gRPC (h2c)   127.0.0.1:{server.GrpcPort}  envoy.service.ext_proc.v3.ExternalProcessor/Process
              JSON API              http://127.0.0.1:{server.HttpPort}/v1/decide
              health / metrics      http://127.0.0.1:{server.HttpPort}/readyz  /metrics

            try it:
              TOKEN=$(dotnet run --project src/Aegis.Cli -- token --tenant {(tenants.Count > 0 ? tenants[0] : "acme")} --agent payments-bot)
              curl -s http://127.0.0.1:{server.HttpPort}/v1/decide -H "authorization: Bearer $TOKEN" \
                -d '{"{"}"tool":"stripe.transfer","args":{"{"}"amount":7500,"currency":"USD"{"}"}{"}"}'
            """);
    }

    /// <summary>Compiles the manifests folder into signed bundles; a tenant with errors keeps its last good bundle.</summary>
    private sealed class ManifestCompiler(string manifests, string bundlesDir, LocalEd25519Signer signer, CliConsole console)
    {
        // Bundle sequences only grow (decision servers refuse a lower one): the time in ms, or one more than the last.
        private long _sequence;

        public async Task<IReadOnlyList<string>> CompileAsync(CancellationToken cancellationToken)
        {
            var load = ManifestLoader.LoadPaths([manifests]);
            ValidateCommand.PrintErrors(load, console);
            var tenants = BundleCompiler.Tenants(load);

            // A file that cannot be read (a YAML syntax error) may hold any tenant's objects: compiling the rest would
            // publish bundles without them, so every tenant keeps its last good bundle until the file is fixed.
            var unreadable = load.Errors.Where(e => e.ObjectRef is null).Select(e => e.File).Distinct(StringComparer.Ordinal).ToList();
            if (unreadable.Count > 0)
            {
                console.Error.WriteLine($"{string.Join(", ", unreadable)}: cannot be read; every tenant keeps its last good bundle until it is fixed");
                return tenants;
            }

            foreach (var tenant in tenants)
            {
                var bad = load.Rejected.Where(r => r.Tenant == tenant).ToList();
                if (bad.Count > 0)
                {
                    console.Error.WriteLine($"{tenant}: keeping the last good bundle; {bad.Count} invalid object(s)");
                    continue;
                }

                _sequence = Math.Max(_sequence + 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                var content = BundleCompiler.Compile(tenant, load.Objects).WithSequence(_sequence);
                var archive = await BundleArchive.SignAndPackAsync(content, signer, cancellationToken).ConfigureAwait(false);
                await AtomicFile.WriteAsync(Path.Combine(bundlesDir, tenant + ".tar.gz"), archive, cancellationToken).ConfigureAwait(false);
                console.Out.WriteLine($"{tenant}\trevision {content.Revision}");
            }

            return tenants;
        }
    }
}
