using System.CommandLine;
using System.Net;
using Aegis.Operator.Tokens;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aegis.Cli.Commands;

/// <summary>
/// <c>aegis keys org-key create</c>: makes an organisation key for <c>POST /v1/token</c>, stores only its salted hash
/// and grant in the org-key Secret, and prints the key once.
/// </summary>
internal static class OrgKeyCommand
{
    public static Command Create(CliConsole console)
    {
        var id = new Option<string>("--id") { Description = "Key id (a DNS label); names the Secret entry and appears in logs", Required = true };
        var org = new Option<string>("--org") { Description = "The org claim of tokens minted with this key", Required = true };
        var tenants = new Option<string[]>("--tenant") { Description = "A tenant the key may mint for (repeat for more)", Required = true, AllowMultipleArgumentsPerToken = true };
        var agents = new Option<string[]>("--agent") { Description = "An agent id the key may mint for, or * for any (repeat for more)", Required = true, AllowMultipleArgumentsPerToken = true };
        var scopes = new Option<string[]>("--scope") { Description = "A scope the key may grant (repeat for more)", AllowMultipleArgumentsPerToken = true };
        var kubeconfig = new Option<FileInfo?>("--kubeconfig") { Description = "kubeconfig file (default: in-cluster config, else ~/.kube/config)" };
        var ns = new Option<string>("--namespace") { Description = "The operator's namespace", DefaultValueFactory = _ => "aegis-system" };
        var secretName = new Option<string>("--secret") { Description = "The org-key Secret", DefaultValueFactory = _ => new TokenServiceOptions().SecretName };
        var force = new Option<bool>("--force") { Description = "Replace an existing key with this id (the old key stops working)" };
        var create = new Command("create", "Create an organisation key: stores its hash in the Secret and prints the key once") { id, org, tenants, agents, scopes, kubeconfig, ns, secretName, force };
        create.SetAction(async (parse, cancellationToken) =>
        {
            (string Key, OrgKeyGrant Grant) made;
            try
            {
                made = OrgKeys.Create(parse.GetValue(id)!, parse.GetValue(org)!, parse.GetValue(tenants)!, parse.GetValue(agents)!, parse.GetValue(scopes) ?? []);
            }
            catch (ArgumentException e)
            {
                console.Error.WriteLine("--id: " + e.Message);
                return AegisCommand.BadInput;
            }

            try
            {
                var config = KubeConfigs.Resolve(parse.GetValue(kubeconfig));
                using var client = new Kubernetes(config);
                var stored = await StoreAsync(client, parse.GetValue(ns)!, parse.GetValue(secretName)!, parse.GetValue(id)!, OrgKeys.Serialize(made.Grant), parse.GetValue(force), cancellationToken).ConfigureAwait(false);
                if (!stored)
                {
                    console.Error.WriteLine($"--id: key \"{parse.GetValue(id)}\" already exists; pass --force to replace it");
                    return 1;
                }
            }
            catch (Exception e) when (e is HttpOperationException or HttpRequestException or k8s.Exceptions.KubeConfigException or IOException)
            {
                console.Error.WriteLine($"storing the key in Secret {parse.GetValue(ns)}/{parse.GetValue(secretName)} failed: {e.Message}");
                return AegisCommand.BadInput;
            }

            // The only time the key is shown: the Secret holds just its hash.
            console.Out.WriteLine(made.Key);
            return 0;
        });
        return new Command("org-key", "Manage organisation keys for the token service") { create };
    }

    private static async Task<bool> StoreAsync(Kubernetes client, string ns, string name, string id, byte[] entry, bool force, CancellationToken cancellationToken)
    {
        V1Secret secret;
        try
        {
            secret = await client.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
            {
                Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns },
                Type = "Opaque",
                Data = new Dictionary<string, byte[]> { [id] = entry },
            }, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
            return true;
        }

        secret.Data ??= new Dictionary<string, byte[]>();
        if (secret.Data.ContainsKey(id) && !force)
        {
            return false;
        }

        secret.Data[id] = entry;

        // Replace carries the resourceVersion just read: a concurrent edit makes this fail (409) rather than lose it.
        await client.CoreV1.ReplaceNamespacedSecretAsync(secret, name, ns, cancellationToken: cancellationToken).ConfigureAwait(false);
        return true;
    }
}
