using System.CommandLine;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Aegis.Contracts.Wire;

namespace Aegis.Cli.Commands;

/// <summary>
/// <c>aegis tokens revoke --jti J | --agent A --tenant T [--reason R]</c>: revokes agent tokens. Through the operator
/// (<c>--operator URL</c>), authenticated with the caller's own Kubernetes credentials and authorized by RBAC
/// (<c>create</c> on <c>tokenrevocations.aegis.dev</c>); or, standalone, through <c>aegis serve</c>'s JSON API
/// (<c>--server URL</c>) with the local admin token.
/// </summary>
internal static class TokensCommand
{
    /// <summary>The standalone admin credential, in the state folder (mode 0600), written by <c>aegis serve</c>.</summary>
    public const string AdminTokenFile = "admin-token";

    public static Command Create(CliConsole console)
    {
        var jti = new Option<string?>("--jti") { Description = "Revoke the token with this jti" };
        var agent = new Option<string?>("--agent") { Description = "Revoke every token of this agent issued until now (with --tenant)" };
        var tenant = new Option<string?>("--tenant") { Description = "The agent's tenant (required with --agent; with --jti, limits the revocation to that tenant)" };
        var reason = new Option<string?>("--reason") { Description = "Why (logged with the revocation)" };
        var operatorUrl = new Option<string?>("--operator") { Description = "The operator's HTTP address, e.g. http://aegis-operator.aegis-system.svc:8080 (a cluster)" };
        var kubeconfig = new Option<FileInfo?>("--kubeconfig") { Description = "With --operator: whose credentials to present (default: in-cluster config, else ~/.kube/config)" };
        var k8sTokenFile = new Option<FileInfo?>("--k8s-token-file") { Description = "With --operator: a file holding a Kubernetes bearer token, for kubeconfigs that authenticate with client certificates" };
        var server = new Option<string?>("--server") { Description = "A standalone 'aegis serve' JSON API, e.g. http://127.0.0.1:8181" };
        var adminFile = new Option<FileInfo>("--admin-token-file") { Description = "With --server: the admin token", DefaultValueFactory = _ => new FileInfo(Path.Combine(ServeCommand.DefaultStateDir, AdminTokenFile)) };
        var revoke = new Command("revoke", "Revoke a token by jti, or every token of an agent issued until now, on every decision server")
        {
            jti, agent, tenant, reason, operatorUrl, kubeconfig, k8sTokenFile, server, adminFile,
        };
        revoke.SetAction(async (parse, cancellationToken) =>
        {
            var (j, a, t) = (parse.GetValue(jti), parse.GetValue(agent), parse.GetValue(tenant));
            if ((j is null) == (a is null) || (a is not null && t is null))
            {
                console.Error.WriteLine("give --jti J, or --agent A with --tenant T");
                return AegisCommand.BadInput;
            }

            var (op, standalone) = (parse.GetValue(operatorUrl), parse.GetValue(server));
            if ((op is null) == (standalone is null))
            {
                console.Error.WriteLine("give exactly one of --operator URL (a cluster) and --server URL (standalone aegis serve)");
                return AegisCommand.BadInput;
            }

            if (!Uri.TryCreate(op ?? standalone, UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https"))
            {
                console.Error.WriteLine($"{(op is null ? "--server" : "--operator")}: \"{op ?? standalone}\" is not an http(s) URL");
                return AegisCommand.BadInput;
            }

            var credential = op is not null
                ? await KubernetesCredentialAsync(parse.GetValue(kubeconfig), parse.GetValue(k8sTokenFile), console, cancellationToken).ConfigureAwait(false)
                : ReadSecret(parse.GetValue(adminFile)!, console);
            if (credential is null)
            {
                return AegisCommand.BadInput;
            }

            var target = new Uri(baseUrl, TokenRevocationRequest.Path);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            using var request = new HttpRequestMessage(HttpMethod.Post, target)
            {
                Content = new StringContent(TokenRevocationRequest.Write(j, t, a, parse.GetValue(reason)), Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
            try
            {
                using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
                var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    console.Error.WriteLine($"{target}: HTTP {(int)response.StatusCode}: {Describe(body)}");
                    return 1;
                }

                console.Out.WriteLine(j is not null ? $"revoked token {j}" : $"revoked every token of agent {t}/{a} issued until now");
                return 0;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                console.Error.WriteLine($"{target}: {e.Message}");
                return 1;
            }
        });
        return new Command("tokens", "Manage agent tokens") { revoke };
    }

    private static async Task<string?> KubernetesCredentialAsync(FileInfo? kubeconfig, FileInfo? tokenFile, CliConsole console, CancellationToken cancellationToken)
    {
        if (tokenFile is not null)
        {
            return ReadSecret(tokenFile, console);
        }

        if (KubeConfigs.TryResolve(kubeconfig, console) is not { } config)
        {
            return null;
        }

        try
        {
            if (config.TokenProvider is { } provider)
            {
                return (await provider.GetAuthenticationHeaderAsync(cancellationToken).ConfigureAwait(false)).Parameter;
            }
        }
        catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
        {
            console.Error.WriteLine($"the kubeconfig's credential plugin failed: {e.Message}");
            return null;
        }

        if (config.AccessToken is { Length: > 0 } token)
        {
            return token;
        }

        console.Error.WriteLine("the kubeconfig has no bearer token (client certificates cannot be forwarded to the operator): pass --k8s-token-file with a token from 'kubectl create token'");
        return null;
    }

    private static string? ReadSecret(FileInfo file, CliConsole console)
    {
        try
        {
            return File.ReadAllText(file.FullName).Trim() is { Length: > 0 } text ? text : throw new IOException("the file is empty");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            console.Error.WriteLine($"{file.FullName}: {e.Message}");
            return null;
        }
    }

    private static string Describe(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var error))
            {
                return $"{error}: {(doc.RootElement.TryGetProperty("message", out var m) ? m.ToString() : "")}";
            }
        }
        catch (JsonException)
        {
            // Not one of our answers (a proxy's page): show the start of it.
        }

        return body.Length > 300 ? body[..300] : body;
    }
}
