using System.CommandLine;
using Aegis.Operator.Hosting;
using Aegis.Operator.Keys;
using Aegis.State;
using k8s;

namespace Aegis.Cli.Commands;

/// <summary><c>aegis operator</c>: run the operator against a cluster (in-cluster config, or a kubeconfig) until SIGTERM or Ctrl+C.</summary>
internal static class OperatorCommand
{
    public static Command Create(CliConsole console)
    {
        var flags = new OperatorFlags();
        var signing = new OperatorSigning();
        var command = new Command("operator", "Run the operator: reconcile Aegis objects into signed bundles, serve them, and inject sidecars");
        foreach (var option in flags.Options.Concat(signing.Options))
        {
            command.Options.Add(option);
        }

        command.SetAction((parse, cancellationToken) => RunAsync(parse, flags, signing, console, cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult parse, OperatorFlags flags, OperatorSigning signing, CliConsole console, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        var errors = new List<string>();
        var settings = flags.Bind(parse, Environment.GetEnvironmentVariable, errors);
        if (signing.Check(parse) is { } signingProblem)
        {
            errors.Add(signingProblem);
        }

        // Every problem at once, each naming its flag.
        errors.ForEach(console.Error.WriteLine);
        if (settings is null || errors.Count > 0 || KubeConfigs.TryResolve(settings.Kubeconfig, console) is not { } config)
        {
            return AegisCommand.BadInput;
        }

        Operator.Publishing.ObjectStorePublisher? objectStore;
        try
        {
            objectStore = await OperatorClouds.ObjectStoreAsync(settings.ObjectStore, time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or Amazon.Runtime.AmazonClientException)
        {
            console.Error.WriteLine($"--bundle-store {settings.ObjectStore.Kind}: no usable cloud credentials or region: {e.Message}");
            return AegisCommand.BadInput;
        }

        using var client = new Kubernetes(config);
        using var loggers = Microsoft.Extensions.Logging.LoggerFactory.Create(l => Microsoft.Extensions.Logging.ConsoleLoggerExtensions.AddSimpleConsole(l));
        OperatorSigningKeys? created;
        try
        {
            created = await signing.CreateAsync(parse, client, settings.Namespace, loggers, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is KmsSigningException or ArgumentException or InvalidOperationException or FormatException or IOException or UnauthorizedAccessException
            or Amazon.Runtime.AmazonClientException or k8s.Autorest.HttpOperationException or HttpRequestException)
        {
            console.Error.WriteLine($"--signer {parse.GetValue(signing.SignerOption)}: no usable signing keys: {e.Message}");
            return AegisCommand.BadInput;
        }

        using var operatorKeys = created;
        await using var redis = settings.Redis is { } redisUrl ? await RedisState.ConnectAsync(redisUrl).ConfigureAwait(false) : null;
        var app = OperatorHost.Build(new OperatorOptions
        {
            Client = client,
            Namespace = settings.Namespace,
            Keys = operatorKeys,
            Tokens = signing.Tokens(parse),
            Identity = settings.Identity ?? Environment.MachineName,
            ListenAddress = settings.Listen,
            HttpPort = settings.HttpPort,
            Https = settings.Https,
            PublishConfigMaps = settings.ConfigMaps,
            ObjectStore = objectStore,
            BudgetStore = redis?.Budgets,
            Revocations = redis?.TokenIds,
            Approvals = settings.Approvals,
            DecisionTls = settings.DecisionTls,
            Webhook = settings.Webhook,
            DrainTimeout = settings.DrainTimeout,
            Time = time,
        });
        var scheme = settings.Https is null ? "http" : "https";
        console.Out.WriteLine($"aegis operator: {config.Host}, namespace {settings.Namespace}, bundles at {scheme}://{settings.Listen}:{settings.HttpPort}/bundles/{{tenant}}");
        console.Out.WriteLine($"signing keys: bundles {Describe(operatorKeys.Bundles)}, tokens {Describe(operatorKeys.Tokens)}");
        await app.StartAsync(cancellationToken).ConfigureAwait(false);

        // SIGTERM or Ctrl+C, whichever of the command line and the host hears it first.
        var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (cancellationToken.Register(() => stopping.TrySetResult()))
        using (app.Lifetime.ApplicationStopping.Register(() => stopping.TrySetResult()))
        {
            await stopping.Task.ConfigureAwait(false);
        }

        // Not ready at once, the leader's work drained, the Lease handed back, then the listeners closed.
        app.Lifetime.StopApplication();
        using var drain = new CancellationTokenSource(settings.DrainTimeout + TimeSpan.FromSeconds(5));
        await app.StopAsync(drain.Token).ConfigureAwait(false);
        await app.DisposeAsync().ConfigureAwait(false);
        console.Out.WriteLine("aegis operator: stopped");
        return 0;
    }

    private static string Describe(Policy.Signing.ISigner signer) => signer switch
    {
        KmsEd25519Signer kms => kms.Description,
        SigningKeyRing => "the rotated local key ring",
        _ => "a fixed key file",
    } + $" (kid {signer.KeyId})";
}
