using System.Text;
using Aegis.Policy.Bundles;

namespace Aegis.Policy.Tests.Bundles;

public class CanonicalJsonTests
{
    [Theory]
    [InlineData("""{ "b": 1, "a": [ 3, { "d": null, "c": true } ] }""", """{"a":[3,{"c":true,"d":null}],"b":1}""")]
    [InlineData("""{"x": 1.50, "y": 1e3, "z": -0}""", """{"x":1.50,"y":1e3,"z":-0}""")]
    [InlineData("""{"html": "<a href='x'>&</a>"}""", """{"html":"<a href='x'>&</a>"}""")]
    [InlineData("""{"s": "line\nbreak\ttab \u0001 \u2028 é"}""", "{\"s\":\"line\\nbreak\\ttab \\u0001 \\u2028 é\"}")]
    [InlineData("""{"B": 1, "a": 2, "_": 3}""", """{"B":1,"_":3,"a":2}""")]
    public void Canonicalize_SortsKeysAndEscapesLikeGo(string input, string expected)
    {
        Assert.Equal(expected, Encoding.UTF8.GetString(CanonicalJson.Canonicalize(Encoding.UTF8.GetBytes(input))));
    }

    [Fact]
    public void CompareUtf8_OrdersSupplementaryAfterPrivateUse_AsUtf8BytesDo()
    {
        // U+E000 is EE 80 80 in UTF-8; U+1F600 is F0 9F 98 80: the emoji sorts last in byte order, first in UTF-16 order.
        Assert.True(CanonicalJson.CompareUtf8("\uE000", "\U0001F600") < 0);
        Assert.True(string.CompareOrdinal("\uE000", "\U0001F600") > 0);
    }
}
