using System.Text;
using System.Text.Json;
using Aegis.Decision.Calls;

namespace Aegis.Decision.Tests.Calls;

/// <summary>Reading answers: server-sent events split anywhere, LLM usage (JSON and streamed), tools/list filtering.</summary>
public class ResponseReadingTests
{
    /// <summary>Feeds <paramref name="stream"/> in pieces cut at <paramref name="cuts"/>, returning the events.</summary>
    private static List<SseEvent> Events(byte[] stream, params int[] cuts)
    {
        var reader = new SseEventReader();
        var events = new List<SseEvent>();
        var start = 0;
        foreach (var cut in cuts.Append(stream.Length))
        {
            events.AddRange(reader.Push(stream.AsSpan(start, cut - start)));
            start = cut;
        }

        return events;
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("\r\n")]
    [InlineData("\r")]
    public void SseEventReader_SplitAtEveryByte_SameEventsAndBytes(string newline)
    {
        var text = string.Join(newline, ": comment", "event: message", "id: 7", "data: {\"a\":", "data: \"é€😀\"}", "", "data: second", "", "data:third", "", "");
        var stream = Encoding.UTF8.GetBytes(text);
        var whole = Events(stream);

        Assert.Equal(["{\"a\":\n\"é€😀\"}", "second", "third"], whole.Select(e => e.Data));
        Assert.Equal(["message", null, null], whole.Select(e => e.Name));
        Assert.Equal("7", whole[0].Id);
        for (var i = 0; i <= stream.Length; i++)
        {
            var split = Events(stream, i);
            Assert.Equal(whole.Select(e => e.Data), split.Select(e => e.Data));

            // Passed on unchanged, the events' bytes are the stream's bytes.
            Assert.Equal(stream.Take(whole.Sum(e => e.Raw.Length)), split.SelectMany(e => e.Raw));
        }
    }

    [Fact]
    public void SseEventReader_EventLargerThanTheCap_OverflowsInsteadOfBuffering()
    {
        var reader = new SseEventReader();
        var chunk = Encoding.UTF8.GetBytes("data: " + new string('x', 64 * 1024));
        for (var i = 0; i < (SseEventReader.MaxEventBytes / chunk.Length) + 2 && !reader.Overflowed; i++)
        {
            reader.Push(chunk);
        }

        Assert.True(reader.Overflowed);
        Assert.Equal(0, reader.PendingBytes);
    }

    public static TheoryData<string, long, long> JsonUsage => new()
    {
        { """{"object":"chat.completion","usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18,"prompt_tokens_details":{"cached_tokens":3}}}""", 11, 7 },
        { """{"object":"response","usage":{"input_tokens":20,"output_tokens":5,"total_tokens":25}}""", 20, 5 },
        { """{"object":"list","usage":{"prompt_tokens":8,"total_tokens":8}}""", 8, 0 },
        { """{"type":"message","usage":{"input_tokens":10,"cache_creation_input_tokens":2,"cache_read_input_tokens":3,"output_tokens":4}}""", 15, 4 },
    };

    [Theory]
    [MemberData(nameof(JsonUsage))]
    public void UsageReader_JsonAnswers_ReadAsEachProviderReportsThem(string body, long input, long output) =>
        Assert.Equal(new TokenUsage(input, output), UsageReader.FromJson(Encoding.UTF8.GetBytes(body)));

    [Theory]
    [InlineData("""{"object":"chat.completion"}""")]
    [InlineData("""{"usage":{"prompt_tokens":-1,"completion_tokens":1}}""")]
    [InlineData("""{"usage":{"prompt_tokens":"11","completion_tokens":1}}""")]
    [InlineData("""{"usage":{"prompt_tokens":1.5}}""")]
    [InlineData("""{"usage":[1]}""")]
    [InlineData("not json")]
    public void UsageReader_MissingOrMalformedUsage_IsNoneSoTheReservationStands(string body) =>
        Assert.Null(UsageReader.FromJson(Encoding.UTF8.GetBytes(body)));

    private const string OpenAIStream = """
        data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"}}],"usage":null}

        data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}],"usage":null}

        data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}

        data: [DONE]


        """;

    private const string ResponsesStream = """
        event: response.created
        data: {"type":"response.created","response":{"id":"r1","usage":null}}

        event: response.output_text.delta
        data: {"type":"response.output_text.delta","delta":"Hi"}

        event: response.completed
        data: {"type":"response.completed","response":{"id":"r1","usage":{"input_tokens":30,"output_tokens":12,"total_tokens":42}}}


        """;

    private const string AnthropicStream = """
        event: message_start
        data: {"type":"message_start","message":{"id":"m1","usage":{"input_tokens":25,"output_tokens":1}}}

        event: ping
        data: {"type":"ping"}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}

        event: message_delta
        data: {"type":"message_delta","delta":{},"usage":{"output_tokens":40}}

        event: message_stop
        data: {"type":"message_stop"}


        """;

    public static TheoryData<string, long, long> StreamUsage => new()
    {
        { OpenAIStream, 9, 2 },
        { ResponsesStream, 30, 12 },

        // Anthropic's usage is cumulative: the last message_delta replaces the earlier ones, it does not add up.
        { AnthropicStream, 25, 40 },
    };

    [Theory]
    [MemberData(nameof(StreamUsage))]
    public void UsageReader_Streams_SplitAtEveryByte_ReadTheFinalUsage(string stream, long input, long output)
    {
        var bytes = Encoding.UTF8.GetBytes(stream.ReplaceLineEndings("\n"));
        for (var cut = 0; cut <= bytes.Length; cut++)
        {
            var reader = new UsageReader();
            foreach (var e in Events(bytes, cut))
            {
                reader.Observe(e);
            }

            Assert.Equal(new TokenUsage(input, output), reader.Final);
        }
    }

    [Fact]
    public void UsageReader_StreamCutBeforeItsUsage_HasNone()
    {
        var bytes = Encoding.UTF8.GetBytes(OpenAIStream.ReplaceLineEndings("\n"));
        var reader = new UsageReader();
        foreach (var e in Events(bytes[..(OpenAIStream.IndexOf("\"choices\":[]", StringComparison.Ordinal) - 20)]))
        {
            reader.Observe(e);
        }

        Assert.Null(reader.Final);
        Assert.Null(reader.Complete());
    }

    [Fact]
    public void UsageReader_AnthropicStreamCutBeforeMessageStop_CompletesFromTheLastCumulativeFigures()
    {
        var text = AnthropicStream.ReplaceLineEndings("\n");
        var reader = new UsageReader();
        foreach (var e in Events(Encoding.UTF8.GetBytes(text[..text.IndexOf("event: message_stop", StringComparison.Ordinal)])))
        {
            reader.Observe(e);
        }

        Assert.Null(reader.Final);
        Assert.Equal(new TokenUsage(25, 40), reader.Complete());
    }

    [Fact]
    public void UsageReader_MalformedUsageInAStream_MarkedAndNotBelieved()
    {
        var reader = new UsageReader();
        foreach (var e in Events(Encoding.UTF8.GetBytes("data: {\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":\"9\"}}\n\n")))
        {
            reader.Observe(e);
        }

        Assert.True(reader.Malformed);
        Assert.Null(reader.Final);
    }

    private static readonly Func<string, bool> OnlyTransfer = name => name == "transfer";

    [Fact]
    public void ToolsListFilter_Json_KeepsOnlyCallableToolsAndTheCursor()
    {
        var filter = new ToolsListFilter("1", OnlyTransfer);
        var body = """{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"payout","inputSchema":{}},{"name":"transfer","title":"Transfer","inputSchema":{"type":"object"}},{"nameless":true}],"nextCursor":"page-2"}}""";

        var filtered = filter.FilterJson(Encoding.UTF8.GetBytes(body));

        using var json = JsonDocument.Parse(filtered!);
        var result = json.RootElement.GetProperty("result");
        Assert.Equal(["transfer"], result.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        Assert.Equal("Transfer", result.GetProperty("tools")[0].GetProperty("title").GetString());
        Assert.Equal("page-2", result.GetProperty("nextCursor").GetString());
        Assert.Equal(2, filter.Hidden);
    }

    [Fact]
    public void ToolsListFilter_EmptyPage_StillCarriesTheCursor()
    {
        var filtered = new ToolsListFilter("1", _ => false).FilterJson("""{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}],"nextCursor":"c"}}"""u8);

        using var json = JsonDocument.Parse(filtered!);
        Assert.Empty(json.RootElement.GetProperty("result").GetProperty("tools").EnumerateArray());
        Assert.Equal("c", json.RootElement.GetProperty("result").GetProperty("nextCursor").GetString());
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"result":{}}""")]
    [InlineData("not json")]
    public void ToolsListFilter_JsonThatIsNoToolsResult_IsNotPassedAsFiltered(string body) =>
        Assert.Null(new ToolsListFilter("1", OnlyTransfer).FilterJson(Encoding.UTF8.GetBytes(body)));

    [Fact]
    public void ToolsListFilter_Stream_SplitAtEveryByte_FiltersOnlyTheAnswerToThisRequest()
    {
        var stream = Encoding.UTF8.GetBytes(
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n"
            + "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"other\",\"result\":{\"tools\":[{\"name\":\"payout\"}]}}\n\n"
            + "id: e3\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"req-9\",\"result\":{\"tools\":[{\"name\":\"payout\"},{\"name\":\"transfer\"}],\"nextCursor\":\"n\"}}\n\n");
        for (var cut = 0; cut <= stream.Length; cut++)
        {
            var filter = new ToolsListFilter("\"req-9\"", OnlyTransfer);
            var reader = new SseEventReader();
            var output = new List<byte>();
            foreach (var (start, end) in new[] { (0, cut), (cut, stream.Length) })
            {
                foreach (var e in reader.Push(stream.AsSpan(start, end - start)))
                {
                    output.AddRange(filter.FilterEvent(e));
                }
            }

            var events = Events([.. output]);
            Assert.Equal(3, events.Count);
            Assert.Contains("payout", events[1].Data, StringComparison.Ordinal);
            using var answer = JsonDocument.Parse(events[2].Data);
            Assert.Equal(["transfer"], answer.RootElement.GetProperty("result").GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
            Assert.Equal("n", answer.RootElement.GetProperty("result").GetProperty("nextCursor").GetString());
            Assert.Equal("e3", events[2].Id);
        }
    }
}
