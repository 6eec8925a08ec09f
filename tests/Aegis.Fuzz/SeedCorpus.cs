using System.Security.Cryptography;
using System.Text;
using Aegis.Decision.ExtAuthz;
using Aegis.Decision.Protos.Envoy.Config.Core.V3;
using Aegis.Decision.Protos.Envoy.Service.Auth.V3;
using Aegis.Decision.Protos.Envoy.Service.ExtProc.V3;
using Aegis.TestSupport.Admission;
using Aegis.TestSupport.Slack;
using Google.Protobuf;

namespace Aegis.Fuzz;

/// <summary>
/// Writes the seeds that are not plain files of the tests: the protobuf messages, bundles, tokens, AdmissionReviews
/// and Slack clicks the tests build in code, built here the same way (from the same fixtures and the JSON bodies of
/// the call-reading tests, which are in <c>corpus/mcp</c> and <c>corpus/llm</c>), plus the repository's YAML.
/// </summary>
internal static class SeedCorpus
{
    public static void Write(string corpus, string repository)
    {
        var host = FuzzHost.Instance;
        foreach (var yaml in Directory.EnumerateFiles(Path.Combine(repository, "samples"), "*.yaml", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(Path.Combine(repository, "tests", "Aegis.Policy.Tests", "Loading", "Malformed"), "*.yaml")))
        {
            Save(corpus, "manifests", File.ReadAllBytes(yaml));
        }

        var mcp = Bodies(corpus, "mcp").Take(8).ToList();
        var llm = Bodies(corpus, "llm").Take(6).ToList();
        foreach (var body in mcp)
        {
            Save(corpus, "check-request", Check("mcp.stripe.com", "/mcp", body).ToByteArray());
            Save(corpus, "ext-proc", Stream("mcp.stripe.com", "/mcp", body, """{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"transfer"},{"name":"refund"}]}}"""));
        }

        foreach (var body in llm)
        {
            Save(corpus, "check-request", Check("api.openai.com", "/v1/chat/completions", body).ToByteArray());
            Save(corpus, "ext-proc", Stream("api.openai.com", "/v1/chat/completions", body, """{"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"""));
        }

        Save(corpus, "check-request", Check("api.stripe.com", "/v1/charges?amount=1", "amount=100&currency=usd"u8.ToArray()).ToByteArray());
        Save(corpus, "check-request", new CheckRequest { Attributes = new AttributeContext { TlsSession = new AttributeContext.Types.TLSSession { Sni = "mcp.stripe.com" } } }.ToByteArray());

        foreach (var usage in Bodies(corpus, "usage"))
        {
            Save(corpus, "sse", Encoding.UTF8.GetBytes($"event: message\ndata: {Encoding.UTF8.GetString(usage).ReplaceLineEndings(" ")}\n\ndata: [DONE]\n\n"));
        }

        foreach (var (tenant, archive) in host.Archives)
        {
            Save(corpus, "bundle", archive);
            _ = tenant;
        }

        Save(corpus, "jwt", Encoding.UTF8.GetBytes(host.AcmeToken));
        Save(corpus, "jwt", Encoding.UTF8.GetBytes(host.GlobexToken));
        Save(corpus, "jwt", Encoding.UTF8.GetBytes(host.Keys.ToJson()));
        Save(corpus, "admission", Encoding.UTF8.GetBytes(AdmissionFixtures.Review(AdmissionFixtures.RealisticPod()).ToJsonString()));
        Save(corpus, "admission", Encoding.UTF8.GetBytes(AdmissionFixtures.Review(AdmissionFixtures.RealisticPod(), operation: "UPDATE", dryRun: true).ToJsonString()));
        Save(corpus, "slack", Encoding.UTF8.GetBytes(SlackInteractionRequests.ClickBody("U024BE7LH", "aegis_approve", "fintech/approval-1")));
        Save(corpus, "slack", Encoding.UTF8.GetBytes(SlackInteractionRequests.ClickBody("U024BE7LH", "aegis_deny", "fintech/approval-1")));
    }

    private static IEnumerable<byte[]> Bodies(string corpus, string target) =>
        Directory.EnumerateFiles(Path.Combine(corpus, target)).Order(StringComparer.Ordinal).Select(File.ReadAllBytes);

    private static CheckRequest Check(string host, string path, byte[] body) => new()
    {
        Attributes = new AttributeContext
        {
            Request = new AttributeContext.Types.Request
            {
                Http = new AttributeContext.Types.HttpRequest
                {
                    Method = "POST",
                    Host = host,
                    Path = path,
                    Headers = { [":method"] = "POST", [":authority"] = host, [":path"] = path, ["content-type"] = "application/json", [CheckRequestMapper.TokenHeader] = FuzzHost.Instance.AcmeToken },
                    RawBody = ByteString.CopyFrom(body),
                },
            },
            ContextExtensions = { ["tenant"] = "acme", ["agent_id"] = "payments-bot" },
        },
    };

    /// <summary>One exchange as Envoy streams it: request headers and body, then the answer's headers and body.</summary>
    private static byte[] Stream(string host, string path, byte[] body, string answer)
    {
        using var stream = new MemoryStream();
        static HeaderMap Headers(params (string Key, string Value)[] pairs)
        {
            var map = new HeaderMap();
            foreach (var (key, value) in pairs)
            {
                map.Headers.Add(new HeaderValue { Key = key, RawValue = ByteString.CopyFromUtf8(value) });
            }

            return map;
        }

        new ProcessingRequest { RequestHeaders = new HttpHeaders { Headers = Headers((":method", "POST"), (":authority", host), (":path", path), ("content-type", "application/json"), ("content-length", body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))) } }.WriteDelimitedTo(stream);
        new ProcessingRequest { RequestBody = new HttpBody { Body = ByteString.CopyFrom(body), EndOfStream = true } }.WriteDelimitedTo(stream);
        new ProcessingRequest { ResponseHeaders = new HttpHeaders { Headers = Headers((":status", "200"), ("content-type", "application/json")) } }.WriteDelimitedTo(stream);
        new ProcessingRequest { ResponseBody = new HttpBody { Body = ByteString.CopyFromUtf8(answer), EndOfStream = true } }.WriteDelimitedTo(stream);
        return stream.ToArray();
    }

    private static void Save(string corpus, string target, byte[] bytes)
    {
        var dir = Path.Combine(corpus, target);
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, "seed-" + Convert.ToHexStringLower(SHA256.HashData(bytes))[..12]), bytes);
    }
}
