using System.Text;
using Aegis.Decision.Calls;

namespace Aegis.Decision.Tests.Calls;

/// <summary>Inputs found by fuzzing (tests/Aegis.Fuzz) that once threw: each now comes back as a named outcome.</summary>
public class MalformedWireInputTests
{
    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","method":"ping"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"result":{"tools":[]},"result":{"tools":[{"name":"hidden"}]}}""")]
    public void ToolsListFilter_AnswerWithAMemberNamedTwice_IsNotFilteredAndDoesNotThrow(string body)
    {
        var filter = new ToolsListFilter("1", _ => false);

        Assert.Null(filter.FilterJson(Encoding.UTF8.GetBytes(body)));
        var raw = Encoding.UTF8.GetBytes("data: " + body + "\n\n");
        Assert.Equal(raw, filter.FilterEvent(new SseEvent(raw, null, body, null)));
    }
}
