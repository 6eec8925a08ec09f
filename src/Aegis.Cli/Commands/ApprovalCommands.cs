using System.CommandLine;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Operator.Approvals;
using Aegis.Policy.Resources;
using k8s;
using k8s.Autorest;

namespace Aegis.Cli.Commands;

/// <summary>
/// <c>aegis approve NAME</c> / <c>aegis deny NAME</c>: decide a pending ApprovalRequest by patching its status
/// subresource, as a person with RBAC rights on it. The operator reacts as it does to a Slack click. With
/// <c>--server URL</c> they decide on a standalone decision server's desk instead (<c>aegis serve --manifests</c>).
/// </summary>
internal static class ApprovalCommands
{
    /// <summary><c>aegis approvals list --server URL</c>: the standalone desk's approvals, newest first.</summary>
    public static Command List(CliConsole console)
    {
        var server = new Option<string>("--server") { Description = "The standalone decision server, e.g. http://127.0.0.1:8181", Required = true };
        var tokenFile = StandaloneDesk.AdminTokenOption();
        var json = new Option<bool>("--json") { Description = "Print the desk's JSON as is" };
        var list = new Command("list", "List the approvals of a standalone decision server's desk") { server, tokenFile, json };
        list.SetAction(async (parse, cancellationToken) =>
            await StandaloneDesk.ListAsync(console, parse.GetValue(server)!, parse.GetValue(tokenFile)!, parse.GetValue(json), cancellationToken).ConfigureAwait(false));
        return new Command("approvals", "Approvals on a standalone decision server's desk") { list };
    }

    public static Command Approve(CliConsole console) => Create(console, "approve", ApprovalPhase.Approved, "Approve a pending ApprovalRequest (the agent may then fetch its one-time override token)");

    public static Command Deny(CliConsole console) => Create(console, "deny", ApprovalPhase.Denied, "Deny a pending ApprovalRequest");

    private static Command Create(CliConsole console, string verb, ApprovalPhase outcome, string description)
    {
        var name = new Argument<string>("NAME") { Description = "The ApprovalRequest (as in x-aegis-approval or kubectl get ar)" };
        var ns = new Option<string>("--namespace", "-n") { Description = "Its namespace", DefaultValueFactory = _ => "default" };
        var kubeconfig = new Option<FileInfo?>("--kubeconfig") { Description = "kubeconfig file (default: in-cluster config, else ~/.kube/config)" };
        var reason = new Option<string?>("--reason") { Description = "Why (recorded in status.reason)" };
        var server = new Option<string?>("--server") { Description = "Decide on a standalone decision server's desk instead, e.g. http://127.0.0.1:8181" };
        var tokenFile = StandaloneDesk.AdminTokenOption();
        var count = new Option<int>("--count") { Description = "With --server, approve: grant the next N such calls (at most the rule's approval.maxBatch)", DefaultValueFactory = _ => 1 };
        var within = new Option<string?>("--within") { Description = "With --server, approve: the grant's window, such as 10m (default: the approval's TTL)" };
        var command = new Command(verb, description) { name, ns, kubeconfig, reason, server, tokenFile };
        if (outcome == ApprovalPhase.Approved)
        {
            command.Add(count);
            command.Add(within);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(server) is { } desk)
            {
                return await StandaloneDesk.DecideAsync(console, desk, parse.GetValue(tokenFile)!, verb, parse.GetValue(name)!, parse.GetValue(reason),
                    outcome == ApprovalPhase.Approved ? parse.GetValue(count) : null, outcome == ApprovalPhase.Approved ? parse.GetValue(within) : null, cancellationToken).ConfigureAwait(false);
            }

            if (KubeConfigs.TryResolve(parse.GetValue(kubeconfig), console) is not { } config)
            {
                return AegisCommand.BadInput;
            }

            var (space, target) = (parse.GetValue(ns)!, parse.GetValue(name)!);
            using var client = new Kubernetes(config);
            ApprovalRequest? request;
            try
            {
                var found = await client.CustomObjects.GetNamespacedCustomObjectAsync(AegisObject.Group, AegisObject.Version, space, ApprovalObjects.Plural, target, cancellationToken).ConfigureAwait(false);
                request = ApprovalObjects.Load(JsonNode.Parse(((JsonElement)found).GetRawText())!.AsObject(), out var error);
                if (request is null)
                {
                    console.Error.WriteLine($"ApprovalRequest {space}/{target} is invalid: {error}");
                    return 1;
                }
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                console.Error.WriteLine($"ApprovalRequest {space}/{target} not found");
                return 1;
            }
            catch (HttpRequestException e)
            {
                console.Error.WriteLine($"the API server at {config.Host} is unreachable: {e.Message}");
                return 1;
            }

            if (request.Status?.Phase is { } phase && phase != ApprovalPhase.Pending)
            {
                console.Error.WriteLine($"ApprovalRequest {space}/{target} is already {phase}{(request.Status.DecidedBy is { } by ? " (by " + by + ")" : "")}");
                return 1;
            }

            // Who decided: the kubeconfig user, which is what the API server's audit log will show too.
            var who = "kubernetes:" + KubeconfigUser(parse.GetValue(kubeconfig));
            try
            {
                await ApprovalObjects.PatchStatusAsync(client, space, target,
                    ApprovalObjects.Decision(outcome, who, DateTimeOffset.UtcNow, parse.GetValue(reason) ?? $"{verb} with aegis {verb}"),
                    request.Metadata.ResourceVersion, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                console.Error.WriteLine($"ApprovalRequest {space}/{target} changed while deciding (someone else decided?); look again with kubectl get ar -n {space} {target}");
                return 1;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Forbidden)
            {
                console.Error.WriteLine($"not allowed to patch approvalrequests/status in {space}: {e.Response.Content}");
                return 1;
            }

            console.Out.WriteLine($"{outcome.ToString().ToLowerInvariant()} {space}/{target} ({request.Spec.AgentId} calling {request.Spec.Tool})");
            return 0;
        });
        return command;
    }

    private static string KubeconfigUser(FileInfo? file)
    {
        if (KubernetesClientConfiguration.IsInCluster() && file is null)
        {
            return Environment.GetEnvironmentVariable("POD_NAME") ?? Environment.MachineName;
        }

        try
        {
            var kubeconfig = file is null ? KubernetesClientConfiguration.LoadKubeConfig() : KubernetesClientConfiguration.LoadKubeConfig(file);
            return kubeconfig.Contexts?.FirstOrDefault(c => c.Name == kubeconfig.CurrentContext)?.ContextDetails?.User ?? Environment.UserName;
        }
        catch (Exception e) when (e is IOException or k8s.Exceptions.KubeConfigException or YamlDotNet.Core.YamlException)
        {
            return Environment.UserName;
        }
    }
}
