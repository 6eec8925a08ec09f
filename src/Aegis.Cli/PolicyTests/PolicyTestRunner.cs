using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Policy.Bundles;
using Aegis.Policy.Decisions;
using Aegis.Policy.Loading;

namespace Aegis.Cli.PolicyTests;

/// <summary>Totals of a policy test run.</summary>
internal sealed record PolicyTestSummary(int Passed, int Failed);

/// <summary>
/// Runs table-driven policy tests (<c>*_test.yaml</c>): each file names policy paths relative to itself and a
/// list of cases {name, input, expect}; a case passes when every expected field equals the decision's.
/// </summary>
internal sealed class PolicyTestRunner(CliConsole console)
{
    private static readonly string[] FileKeys = ["policies", "cases"];
    private static readonly string[] CaseKeys = ["name", "input", "expect"];
    private static readonly string[] ExpectKeys = ["effect", "rule", "policy", "reason", "args"];

    /// <summary>Test files under the given files and folders, in a stable order.</summary>
    public static List<string> FindTestFiles(IEnumerable<string> paths) =>
        [.. paths.SelectMany(p => Directory.Exists(p)
                ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories).Where(ManifestLoader.IsTestFile)
                : [p])
            .Order(StringComparer.Ordinal)];

    public PolicyTestSummary Run(IEnumerable<string> files)
    {
        int passed = 0, failed = 0;
        foreach (var file in files)
        {
            var (p, f) = RunFile(file);
            passed += p;
            failed += f;
        }

        return new PolicyTestSummary(passed, failed);
    }

    private (int Passed, int Failed) RunFile(string file)
    {
        if (!File.Exists(file))
        {
            console.Error.WriteLine($"{file}: no such file");
            return (0, 1);
        }

        var errors = new List<LoadError>();
        var docs = YamlJson.Parse(File.ReadAllText(file), file, errors);
        if (errors.Count > 0 || docs.Count != 1 || docs[0] is not JsonObject root)
        {
            console.Error.WriteLine(errors.Count > 0 ? errors[0].ToString() : $"{file}: a test file must be one mapping with policies and cases");
            return (0, 1);
        }

        if (!CheckKeys(root, FileKeys, file, "") || root["policies"] is not JsonArray policyPaths || root["cases"] is not JsonArray cases)
        {
            console.Error.WriteLine($"{file}: policies and cases must both be lists");
            return (0, 1);
        }

        var baseDir = Path.GetDirectoryName(Path.GetFullPath(file))!;
        var policies = new List<string>();
        foreach (var entry in policyPaths)
        {
            if (entry is not JsonValue value || !value.TryGetValue<string>(out var relative) || relative.Length == 0)
            {
                console.Error.WriteLine($"{file}: policies: every entry must be a path (a non-empty string), relative to the test file; got {entry?.ToJsonString() ?? "null"}");
                return (0, Math.Max(cases.Count, 1));
            }

            // Resolved against the test file's folder and normalised, so "../manifests" names the folder beside it.
            policies.Add(Path.GetFullPath(relative, baseDir));
        }

        var load = ManifestLoader.LoadPaths(policies);
        if (load.Succeeded && load.Objects.Count == 0)
        {
            console.Error.WriteLine($"FAIL {file}: policies {string.Join(", ", policies)} hold no Aegis object; {cases.Count} case(s) not run");
            return (0, Math.Max(cases.Count, 1));
        }

        if (!load.Succeeded)
        {
            foreach (var error in load.Errors)
            {
                console.Error.WriteLine(error.ToString());
            }

            console.Error.WriteLine($"FAIL {file}: policies do not load; {cases.Count} case(s) not run");
            return (0, Math.Max(cases.Count, 1));
        }

        var sets = new Dictionary<string, PolicySet>(StringComparer.Ordinal);
        int passed = 0, failed = 0;
        for (var i = 0; i < cases.Count; i++)
        {
            var name = (cases[i] as JsonObject)?["name"]?.ToString() ?? $"cases[{i}]";
            var problem = RunCase(cases[i], i, file, load, sets);
            if (problem is null)
            {
                passed++;
            }
            else
            {
                failed++;
                console.Out.WriteLine($"FAIL {file}: {name}: {problem}");
            }
        }

        return (passed, failed);
    }

    private string? RunCase(JsonNode? node, int index, string file, LoadResult load, Dictionary<string, PolicySet> sets)
    {
        if (node is not JsonObject testCase || !CheckKeys(testCase, CaseKeys, file, $"cases[{index}]"))
        {
            return "a case must be a mapping with name, input and expect";
        }

        if (testCase["expect"] is not JsonObject expect || !CheckKeys(expect, ExpectKeys, file, $"cases[{index}].expect"))
        {
            return "expect must be a mapping of effect, rule, policy, reason, args";
        }

        using var inputDoc = JsonDocument.Parse(testCase["input"]?.ToJsonString() ?? "null");
        if (!DecisionInput.TryParse(inputDoc.RootElement, out var input, out var inputError))
        {
            return inputError;
        }

        if (!sets.TryGetValue(input.Tenant, out var set))
        {
            set = PolicySet.From(BundleCompiler.Compile(input.Tenant, load.Objects));
            sets[input.Tenant] = set;
        }

        var decision = DecisionEngine.Decide(set, input);
        var actual = JsonNode.Parse(DecisionJson.ToJson(decision, indented: false))!.AsObject();
        var differences = new List<string>();
        foreach (var (key, expected) in expect)
        {
            var got = actual[key];
            if (!JsonNode.DeepEquals(expected, got))
            {
                differences.Add($"{key}: expected {expected?.ToJsonString() ?? "null"}, got {got?.ToJsonString() ?? "null"}");
            }
        }

        return differences.Count == 0
            ? null
            : string.Join("; ", differences) + $" (decision: {decision.Effect.ToString().ToLowerInvariant()} by {decision.Policy ?? "-"}/{decision.Rule ?? "-"}, {decision.Reason})";
    }

    private bool CheckKeys(JsonObject obj, string[] allowed, string file, string path)
    {
        var ok = true;
        foreach (var (key, _) in obj)
        {
            if (Array.IndexOf(allowed, key) < 0)
            {
                console.Error.WriteLine($"{file}: {(path.Length > 0 ? path + "." : "")}{key}: unknown field (known: {string.Join(", ", allowed)})");
                ok = false;
            }
        }

        return ok;
    }
}
