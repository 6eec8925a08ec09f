using System.Net;
using System.Text;
using System.Text.Json;

namespace Aegis.Cli.Tests;

/// <summary>What the serve tests serve (one acme policy allowing the tool x), how they ask for decisions, and an operator stand-in.</summary>
internal static class ServedPolicy
{
    public const string Yaml = """
        apiVersion: aegis.dev/v1alpha1
        kind: AgentPolicy
        metadata: { name: p, namespace: dev }
        spec:
          tenant: acme
          rules: [ { name: first, match: { tools: ["x"] }, effect: allow } ]
        """;

    /// <summary>POST /v1/decide for <paramref name="tool"/>; the effect and the bundle revision that decided.</summary>
    public static async Task<(string? Effect, string? Revision)> DecideAsync(HttpClient http, string tool)
    {
        using var response = await http.PostAsync("/v1/decide", new StringContent($$"""{"tool":"{{tool}}"}""", Encoding.UTF8, "application/json"));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = doc.RootElement;
        return (root.TryGetProperty("effect", out var e) ? e.GetString() : null, root.TryGetProperty("revision", out var r) ? r.GetString() : null);
    }

    /// <summary>Serves <paramref name="files"/> by path (bundles, JWKS) with an ETag, as the operator does; its origin.</summary>
    public static (HttpListener Listener, string Origin) OperatorStandIn(Dictionary<string, byte[]> files)
    {
        var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var origin = $"http://127.0.0.1:{((IPEndPoint)probe.LocalEndpoint).Port}";
        probe.Stop();
        var listener = new HttpListener();
        listener.Prefixes.Add(origin + "/");
        listener.Start();
        _ = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                var found = files.TryGetValue(context.Request.Url!.AbsolutePath, out var body);
                context.Response.StatusCode = found ? 200 : 404;
                context.Response.Headers["ETag"] = "\"r1\"";
                await context.Response.OutputStream.WriteAsync(body ?? []);
                context.Response.Close();
            }
        });
        return (listener, origin);
    }
}
