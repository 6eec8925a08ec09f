using System.Text;
using Aegis.Policy.Bundles;
using Aegis.Policy.Decisions;
using Aegis.Policy.Loading;

namespace Aegis.Fuzz.Targets;

/// <summary>
/// A file saved into a watched manifests folder, or a <c>*_test.yaml</c>: every problem must come back as a
/// <see cref="LoadError"/>, and what loads must compile into a bundle as <c>aegis serve</c> and the operator do.
/// </summary>
internal static class ManifestTarget
{
    public static void Run(byte[] input)
    {
        var text = Encoding.UTF8.GetString(input);
        var load = ManifestLoader.LoadText(text, "fuzz.yaml");
        foreach (var error in load.Errors)
        {
            _ = error.ToString();
        }

        foreach (var tenant in BundleCompiler.Tenants(load))
        {
            if (load.Rejected.All(r => r.Tenant != tenant))
            {
                _ = PolicySet.From(BundleCompiler.Compile(tenant, load.Objects));
            }
        }

        _ = YamlJson.Parse(text, "fuzz_test.yaml", []);
    }
}
