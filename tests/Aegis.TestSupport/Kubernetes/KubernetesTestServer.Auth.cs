using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Aegis.TestSupport.Kubernetes;

/// <summary>
/// TokenReview (authentication.k8s.io/v1) and SubjectAccessReview (authorization.k8s.io/v1) as an API server
/// answers them: bearer tokens registered with <see cref="AddUser"/> authenticate, anything else does not; access is
/// decided by RBAC over the Roles, ClusterRoles and their bindings stored in this server (users, groups and service
/// accounts as subjects; apiGroups, resources, verbs and resourceNames with "*"), so a chart's RBAC can be applied
/// and tested as written.
/// </summary>
public sealed partial class KubernetesTestServer
{
    private const string Rbac = "rbac.authorization.k8s.io";
    private readonly ConcurrentDictionary<string, (string User, string[] Groups)> _users = new(StringComparer.Ordinal);

    /// <summary>Makes <paramref name="token"/> authenticate as <paramref name="user"/> (plus system:authenticated).</summary>
    public void AddUser(string token, string user, params string[] groups) => _users[token] = (user, [.. groups, "system:authenticated"]);

    private void MapAuth(IEndpointRouteBuilder app)
    {
        app.MapPost("/apis/authentication.k8s.io/v1/tokenreviews", async (HttpRequest request) =>
        {
            var review = await ReadReviewAsync(request);
            var token = review?["spec"]?["token"]?.GetValue<string>();
            if (review is null || string.IsNullOrEmpty(token))
            {
                return StatusResult(System.Net.HttpStatusCode.BadRequest, "BadRequest", "TokenReview: spec.token is required");
            }

            review["status"] = _users.TryGetValue(token, out var who)
                ? new JsonObject
                {
                    ["authenticated"] = true,
                    ["user"] = new JsonObject { ["username"] = who.User, ["uid"] = "uid-" + who.User, ["groups"] = new JsonArray([.. who.Groups.Select(g => JsonValue.Create(g))]) },
                }
                : new JsonObject { ["authenticated"] = false, ["error"] = "token not recognized" };
            return Results.Json(review, statusCode: StatusCodes.Status201Created);
        });
        app.MapPost("/apis/authorization.k8s.io/v1/subjectaccessreviews", async (HttpRequest request) =>
        {
            var review = await ReadReviewAsync(request);
            var spec = review?["spec"];
            var attributes = spec?["resourceAttributes"];
            if (review is null || spec?["user"] is null && spec?["groups"] is null || attributes is null)
            {
                return StatusResult(System.Net.HttpStatusCode.BadRequest, "BadRequest", "SubjectAccessReview: spec.user or spec.groups, and spec.resourceAttributes, are required");
            }

            var user = spec["user"]?.GetValue<string>() ?? "";
            var groups = spec["groups"]?.AsArray().Select(g => g!.GetValue<string>()).ToArray() ?? [];
            var rule = Authorize(user, groups, attributes);
            review["status"] = rule is null
                ? new JsonObject { ["allowed"] = false, ["reason"] = "no RBAC rule allows it" }
                : new JsonObject { ["allowed"] = true, ["reason"] = "RBAC: allowed by " + rule };
            return Results.Json(review, statusCode: StatusCodes.Status201Created);
        });
    }

    private static async Task<JsonObject?> ReadReviewAsync(HttpRequest request)
    {
        try
        {
            return (await JsonNode.ParseAsync(request.Body))?.AsObject();
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>The binding that allows the request, or null (RBAC only adds: nothing denies).</summary>
    private string? Authorize(string user, string[] groups, JsonNode attributes)
    {
        var ns = attributes["namespace"]?.GetValue<string>() ?? "";
        var bindings = Objects(Rbac, "clusterrolebindings").Select(b => (Binding: b, Scope: ""))
            .Concat(ns.Length == 0 ? [] : Objects(Rbac, "rolebindings", ns).Select(b => (Binding: b, Scope: ns)));
        foreach (var (binding, scope) in bindings)
        {
            if (!(binding["subjects"]?.AsArray() ?? []).Any(s => Matches(s!, user, groups)))
            {
                continue;
            }

            var roleRef = binding["roleRef"]!;
            var roleName = roleRef["name"]!.GetValue<string>();
            var role = roleRef["kind"]!.GetValue<string>() == "ClusterRole"
                ? Objects(Rbac, "clusterroles").FirstOrDefault(r => r["metadata"]!["name"]!.GetValue<string>() == roleName)
                : Objects(Rbac, "roles", scope).FirstOrDefault(r => r["metadata"]!["name"]!.GetValue<string>() == roleName);
            if ((role?["rules"]?.AsArray() ?? []).Any(r => Allows(r!, attributes)))
            {
                return $"{binding["kind"]} {binding["metadata"]!["name"]}";
            }
        }

        return null;
    }

    private static bool Matches(JsonNode subject, string user, string[] groups)
    {
        var name = subject["name"]?.GetValue<string>();
        return subject["kind"]?.GetValue<string>() switch
        {
            "User" => name == user,
            "Group" => groups.Contains(name),
            "ServiceAccount" => user == $"system:serviceaccount:{subject["namespace"]?.GetValue<string>()}:{name}",
            _ => false,
        };
    }

    private static bool Allows(JsonNode rule, JsonNode attributes)
    {
        static bool Has(JsonNode node, string field, string value) =>
            (node[field]?.AsArray() ?? []).Any(v => v!.GetValue<string>() is var s && (s == "*" || s == value));

        var resource = attributes["resource"]?.GetValue<string>() ?? "";
        var sub = attributes["subresource"]?.GetValue<string>();
        var name = attributes["name"]?.GetValue<string>() ?? "";
        var names = rule["resourceNames"]?.AsArray();
        return Has(rule, "apiGroups", attributes["group"]?.GetValue<string>() ?? "")
            && Has(rule, "resources", sub is { Length: > 0 } ? $"{resource}/{sub}" : resource)
            && Has(rule, "verbs", attributes["verb"]?.GetValue<string>() ?? "")
            && (names is null || names.Count == 0 || (name.Length > 0 && names.Any(n => n!.GetValue<string>() == name)));
    }
}
