namespace Aegis.Operator.Certificates;

/// <summary>The CA bundle sidecars must trust for the decision server, as last published; the injector copies it into each bootstrap.</summary>
public sealed class DecisionTrust
{
    private volatile string? _bundle;

    /// <summary>A fixed bundle (tests, or a bundle managed outside the operator).</summary>
    public static DecisionTrust Of(string bundlePem)
    {
        var trust = new DecisionTrust();
        trust.Publish(bundlePem);
        return trust;
    }

    /// <summary>PEM certificates, or null until the rotator has published them (pods are refused until then).</summary>
    public string? Bundle => _bundle;

    public void Publish(string bundlePem) => _bundle = bundlePem;
}
