namespace Aegis.Operator.Keys;

/// <summary>A KMS refused or garbled a signing or public-key request; the message says which service and why.</summary>
public sealed class KmsSigningException : Exception
{
    public KmsSigningException()
    {
    }

    public KmsSigningException(string message)
        : base(message)
    {
    }

    public KmsSigningException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
