namespace Aegis.Policy.Signing;

/// <summary>What a signing key may sign; each key has exactly one purpose (DESIGN.md "Bundles").</summary>
public enum KeyPurpose
{
    /// <summary>Policy bundles (<c>.signatures.json</c>).</summary>
    Bundle,

    /// <summary>Agent tokens and override tokens.</summary>
    Token,

    /// <summary>Checkpoints of the hash-chained audit log.</summary>
    Audit,

    /// <summary>Decision receipts (reserved: nothing signs them yet).</summary>
    Receipt,
}

/// <summary>Wire names of <see cref="KeyPurpose"/> in the JWK member <c>aegis_purpose</c>, and the refusal reason.</summary>
public static class KeyPurposes
{
    /// <summary>The JWK member that carries a key's purpose.</summary>
    public const string Member = "aegis_purpose";

    /// <summary>
    /// The refusal when a key is published for another purpose, for none, or for more than one. Verifiers prefix it
    /// with their own kind (<c>bundle_key_purpose_mismatch</c>, <c>token_key_purpose_mismatch</c>).
    /// </summary>
    public const string Mismatch = "key_purpose_mismatch";

    /// <summary>Every purpose, in wire order.</summary>
    public static readonly IReadOnlyList<KeyPurpose> All = [KeyPurpose.Bundle, KeyPurpose.Token, KeyPurpose.Audit, KeyPurpose.Receipt];

    /// <summary>The wire name: bundle, token, audit or receipt.</summary>
    public static string Name(this KeyPurpose purpose) => purpose switch
    {
        KeyPurpose.Bundle => "bundle",
        KeyPurpose.Token => "token",
        KeyPurpose.Audit => "audit",
        KeyPurpose.Receipt => "receipt",
        _ => throw new ArgumentOutOfRangeException(nameof(purpose), purpose, "not a key purpose"),
    };

    /// <summary>Parses a wire name (exact, lower case); false for anything else.</summary>
    public static bool TryParse(string? name, out KeyPurpose purpose)
    {
        foreach (var candidate in All)
        {
            if (string.Equals(candidate.Name(), name, StringComparison.Ordinal))
            {
                purpose = candidate;
                return true;
            }
        }

        purpose = default;
        return false;
    }
}
