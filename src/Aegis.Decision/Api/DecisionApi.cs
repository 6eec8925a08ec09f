using System.Text.Json;
using Aegis.Decision.Bundles;
using Aegis.Decision.Telemetry;
using Aegis.Policy.Decisions;

namespace Aegis.Decision.Api;

/// <summary>The HTTP side of the decision server: <c>POST /v1/decide</c>, health, readiness and metrics.</summary>
public static class DecisionApi
{
    /// <summary>Most bytes a /v1/decide body may have.</summary>
    public const int MaxBodyBytes = 1024 * 1024;

    public static void Map(IEndpointRouteBuilder app, IReadOnlyList<string> requiredTenants)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n"));
        app.MapGet("/readyz", (BundleStore bundles, Hosting.ShutdownGate shutdown) =>
        {
            if (shutdown.Draining)
            {
                return Results.Text("not ready: shutting down\n", statusCode: StatusCodes.Status503ServiceUnavailable);
            }

            var missing = requiredTenants.Where(t => bundles.Get(t) is null).ToList();
            return missing.Count == 0 && (requiredTenants.Count > 0 || !bundles.Bundles.IsEmpty)
                ? Results.Text("ready\n")
                : Results.Text($"not ready: no valid bundle for {(missing.Count > 0 ? string.Join(", ", missing) : "any tenant")}\n", statusCode: StatusCodes.Status503ServiceUnavailable);
        });
        app.MapGet("/metrics", (DecisionTelemetry telemetry, BundleStore bundles, TimeProvider time) =>
            Results.Text(telemetry.WritePrometheus(bundles, time.GetUtcNow()), "text/plain; version=0.0.4"));
        app.MapPost("/v1/decide", DecideAsync);
        app.MapPost("/v1/spend", SpendAsync);
    }

    /// <summary>
    /// <c>{"tenant": "acme", "agentId": "bot", "reservationId": "...", "actual": "0.42"}</c> from a trusted meter (an
    /// orchestrator that runs tools itself), authenticated with the meter credential, never an agent's token: it
    /// settles one reservation, once, to what was actually used (never below zero). The agent cannot touch spend.
    /// </summary>
    private static async Task<IResult> SpendAsync(HttpRequest http, DecisionService decisions, MeterCredential meter, CancellationToken cancellationToken)
    {
        if (!meter.Enabled)
        {
            return Problem(StatusCodes.Status404NotFound, "meter_disabled", "this decision server takes no spend reports: settlement comes from what the sidecar observes (start it with --meter-token-file to accept a trusted meter)");
        }

        if (!meter.Accepts(BearerToken(http)))
        {
            return Problem(StatusCodes.Status401Unauthorized, "meter_unauthenticated", "POST /v1/spend takes the meter credential (authorization: Bearer), not an agent token");
        }

        var (doc, problem) = await ReadJsonAsync(http, cancellationToken).ConfigureAwait(false);
        if (doc is null)
        {
            return problem!;
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Problem(StatusCodes.Status400BadRequest, ServerReasons.RequestMalformed, "the body must be a JSON object");
            }

            if (!TryText(root, "tenant", out var tenant, out var error) || !TryText(root, "agentId", out var agent, out error) || !TryText(root, "reservationId", out var reservation, out error)
                || !TryMoney(root, "actual", out var actual, out error))
            {
                return Problem(StatusCodes.Status400BadRequest, ServerReasons.RequestMalformed, error!);
            }

            var outcome = await decisions.SettleAsync(tenant, agent, reservation, actual, cancellationToken).ConfigureAwait(false);
            return outcome switch
            {
                { Reason: null, Settlement: { } settled } => Results.Json(new Dictionary<string, string>
                {
                    ["reserved"] = Aegis.Policy.Values.Money.Format(settled.Reserved),
                    ["spentToday"] = Aegis.Policy.Values.Money.Format(settled.Spend!.Today),
                    ["spentThisMonth"] = Aegis.Policy.Values.Money.Format(settled.Spend.ThisMonth),
                }),
                { Reason: ServerReasons.BudgetStoreUnavailable } => Problem(StatusCodes.Status503ServiceUnavailable, outcome.Reason!, outcome.Message!),
                { Reason: ServerReasons.ReservationUnknown } => Problem(StatusCodes.Status404NotFound, outcome.Reason!, outcome.Message!),
                _ => Problem(StatusCodes.Status409Conflict, outcome.Reason!, outcome.Message!),
            };
        }
    }

    private static bool TryText(JsonElement root, string name, out string value, out string? error)
    {
        if (root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } text)
        {
            value = text;
            error = null;
            return true;
        }

        value = "";
        error = $"{name}: is required, a non-empty string";
        return false;
    }

    /// <summary>
    /// Parses a JSON body of at most <see cref="MaxBodyBytes"/>, however it is framed (a chunked body states no length,
    /// so at most one byte past the cap is read); otherwise the problem to answer with (413 with the reason).
    /// </summary>
    internal static async Task<(JsonDocument? Document, IResult? Problem)> ReadJsonAsync(HttpRequest http, CancellationToken cancellationToken)
    {
        if (http.ContentLength > MaxBodyBytes)
        {
            return (null, TooLarge());
        }

        byte[] body;
        try
        {
            using var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await http.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
            {
                buffer.Write(chunk, 0, read);
                if (buffer.Length > MaxBodyBytes)
                {
                    return (null, TooLarge());
                }
            }

            body = buffer.ToArray();
        }
        catch (IOException e)
        {
            // Kestrel's BadHttpRequestException (a malformed chunk, a client that stopped sending) is an IOException.
            return (null, Problem(StatusCodes.Status400BadRequest, ServerReasons.RequestMalformed, "the body could not be read: " + e.Message));
        }

        try
        {
            // As on the wire: a member named twice is refused (which one would the caller mean?), nesting is bounded,
            // and invalid UTF-8 is a parse error rather than an exception when a string is read.
            return (Calls.CallReader.ParseBody(body), null);
        }
        catch (JsonException e)
        {
            return (null, Problem(StatusCodes.Status400BadRequest, ServerReasons.RequestMalformed, "the body is not valid JSON: " + e.Message));
        }

        static IResult TooLarge() => Problem(StatusCodes.Status413PayloadTooLarge, BodyTooLarge, $"the body is larger than {MaxBodyBytes} bytes");
    }

    /// <summary>The reason of a 413: the body went over <see cref="MaxBodyBytes"/>.</summary>
    public const string BodyTooLarge = "request_body_too_large";

    private static string? BearerToken(HttpRequest http) =>
        http.Headers.Authorization.ToString() is { } auth && auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? auth[7..].Trim() : null;

    private static bool TryMoney(JsonElement root, string name, out decimal value, out string? error)
    {
        value = 0;
        if (!root.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.String)
        {
            error = $"{name}: is required, as a decimal string such as \"0.25\"";
            return false;
        }

        if (!Aegis.Policy.Values.Money.TryParse(v.GetString(), out value, out var moneyError))
        {
            error = $"{name}: {moneyError}";
            return false;
        }

        error = null;
        return true;
    }

    private static async Task<IResult> DecideAsync(HttpRequest http, DecisionService decisions, CancellationToken cancellationToken)
    {
        var (doc, problem) = await ReadJsonAsync(http, cancellationToken).ConfigureAwait(false);
        if (doc is null)
        {
            return problem!;
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (!TryRead(root, http, out var request, out var error))
            {
                return Problem(StatusCodes.Status400BadRequest, ServerReasons.RequestMalformed, error);
            }

            var outcome = await decisions.DecideAsync(request, cancellationToken).ConfigureAwait(false);
            if (outcome.Kind == OutcomeKind.Unauthenticated)
            {
                return Problem(StatusCodes.Status401Unauthorized, outcome.Reason, outcome.Message ?? "", outcome.DecisionId);
            }

            return Results.Text(OutcomeJson(outcome), "application/json", statusCode: StatusCodes.Status200OK);
        }
    }

    /// <summary>Reads the same input as <c>aegis eval</c>; the agent comes from the token, and tenant/agent.id, if given, must match it.</summary>
    internal static bool TryRead(JsonElement root, HttpRequest http, out DecisionRequest request, out string error)
    {
        request = null!;
        if (root.ValueKind != JsonValueKind.Object)
        {
            error = "the body must be a JSON object";
            return false;
        }

        var token = root.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : BearerToken(http);

        // Reuse the CLI's input parser for every field; the token fills tenant and agent when they are left out.
        if (!DecisionInput.TryParse(WithIdentity(root), out var input, out error))
        {
            return false;
        }

        request = new DecisionRequest
        {
            Token = token,
            OverrideToken = root.TryGetProperty("override", out var o) && o.ValueKind == JsonValueKind.String ? o.GetString()
                : http.Headers.TryGetValue("x-aegis-override", out var h) ? h.ToString() : null,
            ExpectedTenant = root.TryGetProperty("tenant", out _) ? input.Tenant : null,
            ExpectedAgent = root.TryGetProperty("agent", out _) ? input.Agent.Id : null,
            Tool = input.Tool,
            Args = input.Args,
            Request = input.Request,
            Cost = input.Cost,
            TraceParent = http.Headers.TryGetValue("traceparent", out var tp) ? tp.ToString() : null,
        };
        return true;
    }

    private static JsonElement WithIdentity(JsonElement root)
    {
        if (root.TryGetProperty("tenant", out _) && root.TryGetProperty("agent", out _))
        {
            return root;
        }

        var node = System.Text.Json.Nodes.JsonNode.Parse(root.GetRawText())!.AsObject();
        node["tenant"] ??= "-";
        node["agent"] ??= new System.Text.Json.Nodes.JsonObject { ["id"] = "-" };
        return JsonSerializer.SerializeToElement(node);
    }

    /// <summary>The decision as <c>aegis eval</c> prints it, plus <c>decisionId</c> and (when limited) <c>retryAfter</c>.</summary>
    public static string OutcomeJson(DecisionOutcome outcome)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            if (outcome.Decision is { } decision && outcome.Reason == decision.Reason && outcome.Effect == decision.Effect)
            {
                var node = JsonDocument.Parse(DecisionJson.ToJson(decision, indented: false));
                writer.WriteStartObject();
                writer.WriteString("decisionId", outcome.DecisionId);
                foreach (var property in node.RootElement.EnumerateObject())
                {
                    property.WriteTo(writer);
                }

                WriteServerFields(writer, outcome);
                writer.WriteEndObject();
                node.Dispose();
            }
            else
            {
                writer.WriteStartObject();
                writer.WriteString("decisionId", outcome.DecisionId);
                writer.WriteString("effect", DecisionJson.EffectName(outcome.Effect));
                writer.WriteString("reason", outcome.Reason);
                if (outcome.Policy is not null)
                {
                    writer.WriteString("policy", outcome.Policy);
                }

                if (outcome.Message is not null)
                {
                    writer.WriteString("message", outcome.Message);
                }

                if (outcome.Revision is not null)
                {
                    writer.WriteString("revision", outcome.Revision);
                }

                WriteServerFields(writer, outcome);
                writer.WriteEndObject();
            }
        }

        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteServerFields(Utf8JsonWriter writer, DecisionOutcome outcome)
    {
        if (outcome.ApprovalRequest is { } name)
        {
            writer.WriteString("approvalRequest", name);
        }

        if (outcome.ApprovalError is { } error)
        {
            writer.WriteString("approvalError", error);
        }

        if (outcome.RetryAfter is { } wait)
        {
            writer.WriteNumber("retryAfter", long.Parse(ExtAuthz.CheckRequestMapper.RetryAfterSeconds(wait), System.Globalization.CultureInfo.InvariantCulture));
        }

        if (outcome.ReservationId is { } reservation)
        {
            writer.WriteString("reservationId", reservation);
        }
    }

    private static IResult Problem(int status, string reason, string message, string? decisionId = null) =>
        Results.Json(new Dictionary<string, string?> { ["decisionId"] = decisionId, ["reason"] = reason, ["message"] = message }, statusCode: status);
}
