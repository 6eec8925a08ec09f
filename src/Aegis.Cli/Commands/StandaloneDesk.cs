using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aegis.Cli.Commands;

/// <summary>The approvals desk of a standalone decision server over HTTP, authenticated with its admin token.</summary>
internal static class StandaloneDesk
{
    /// <summary>Where <c>aegis serve</c> keeps the admin token (beside the development keys).</summary>
    public static string DefaultTokenFile => Path.Combine(ServeCommand.DefaultStateDir, TokensCommand.AdminTokenFile);

    public static Option<FileInfo> AdminTokenOption() => new("--admin-token-file")
    {
        Description = "With --server: the admin token of that server (aegis serve writes it to .aegis/admin-token)",
        DefaultValueFactory = _ => new FileInfo(DefaultTokenFile),
    };

    public static async Task<int> ListAsync(CliConsole console, string server, FileInfo tokenFile, bool raw, CancellationToken cancellationToken)
    {
        var answer = await SendAsync(console, HttpMethod.Get, server, "v1/approvals", tokenFile, null, cancellationToken).ConfigureAwait(false);
        if (answer is not { } json)
        {
            return 1;
        }

        if (raw)
        {
            console.Out.WriteLine(json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }

        var approvals = json["approvals"]?.AsArray() ?? [];
        console.Out.WriteLine($"{"NAME",-26} {"PHASE",-9} {"AGENT",-20} {"TOOL",-28} {"RULE",-32} EXPIRES");
        foreach (var a in approvals)
        {
            var rule = a!["rule"] is { } r ? $"{a["policy"]}/{r}" : a["policy"]?.ToString();
            console.Out.WriteLine($"{a["name"],-26} {a["phase"],-9} {a["agentId"],-20} {a["tool"],-28} {rule,-32} {a["expiresAt"]}");
            console.Out.WriteLine($"    args: {a["argsPreview"]}");
        }

        if (approvals.Count == 0)
        {
            console.Out.WriteLine("(no approvals)");
        }

        return 0;
    }

    public static async Task<int> DecideAsync(CliConsole console, string server, FileInfo tokenFile, string verb, string name, string? reason, int? count, string? within, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["reason"] = reason ?? $"{verb} with aegis {verb}" };
        if (count is { } n)
        {
            body["count"] = n;
        }

        if (within is not null)
        {
            body["within"] = within;
        }

        var answer = await SendAsync(console, HttpMethod.Post, server, $"v1/approvals/{Uri.EscapeDataString(name)}/{verb}", tokenFile, body, cancellationToken).ConfigureAwait(false);
        if (answer is null)
        {
            return 1;
        }

        var granted = answer["granted"]?.GetValue<int>() ?? 0;
        console.Out.WriteLine($"{answer["phase"]?.ToString().ToLowerInvariant()} {name} ({answer["agentId"]} calling {answer["tool"]})"
            + (granted > 0 ? $": the next {(granted == 1 ? "such call is" : granted + " such calls are")} allowed until {answer["grantExpiresAt"]}" : ""));
        return 0;
    }

    private static async Task<JsonNode?> SendAsync(CliConsole console, HttpMethod method, string server, string path, FileInfo tokenFile, JsonObject? body, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(server.EndsWith('/') ? server : server + "/", UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https"))
        {
            console.Error.WriteLine($"--server: \"{server}\" is not an http(s) URL");
            return null;
        }

        if (!tokenFile.Exists)
        {
            console.Error.WriteLine($"--admin-token-file: {tokenFile.FullName} does not exist (aegis serve writes it when it starts)");
            return null;
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        using var request = new HttpRequestMessage(method, new Uri(baseUri, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(tokenFile.FullName, cancellationToken).ConfigureAwait(false)).Trim());
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        try
        {
            using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            JsonNode? json = null;
            try
            {
                json = JsonNode.Parse(text);
            }
            catch (JsonException)
            {
                // Reported below with the status.
            }

            if (!response.IsSuccessStatusCode)
            {
                console.Error.WriteLine($"{(int)response.StatusCode} {json?["reason"]}: {json?["message"] ?? text}");
                return null;
            }

            return json;
        }
        catch (HttpRequestException e)
        {
            console.Error.WriteLine($"{server} is unreachable: {e.Message}");
            return null;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            console.Error.WriteLine($"{server} did not answer within 10 s");
            return null;
        }
    }
}
