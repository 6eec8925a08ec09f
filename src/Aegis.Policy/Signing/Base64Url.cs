

namespace Aegis.Policy.Signing;

/// <summary>Unpadded base64url (RFC 4648 §5), as JOSE uses it.</summary>
public static class Base64Url
{
    public static string Encode(ReadOnlySpan<byte> data) => System.Buffers.Text.Base64Url.EncodeToString(data);

    /// <summary>Decodes; returns false for characters outside the alphabet or padding.</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, out byte[] data)
    {
        data = [];
        if (text.Contains('=') || !System.Buffers.Text.Base64Url.IsValid(text))
        {
            return false;
        }

        data = System.Buffers.Text.Base64Url.DecodeFromChars(text);
        return true;
    }
}
